// Tiny DOM helpers: the widgets build plain HTML (no framework, no innerHTML, CSP-friendly).

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children);
  return node;
}

export function button(label: string, title: string, onClick: () => void, extraClass = ''): HTMLButtonElement {
  const node = h('button', { type: 'button', class: `ih-btn ${extraClass}`.trim(), title }, [label]);
  node.addEventListener('click', onClick);
  return node;
}

/** Marks one button of a group as pressed (aria-pressed drives the CSS too). */
export function setPressed(buttons: Iterable<HTMLButtonElement>, active: HTMLButtonElement | undefined): void {
  for (const b of buttons) b.setAttribute('aria-pressed', String(b === active));
}
