// data-purpose="..." on a viewer container becomes this header on every request it makes.
export function purposeHeaders(purpose: string | undefined): Record<string, string> {
  return purpose ? { 'X-Purpose-Of-Use': purpose } : {};
}
