// Build-time stand-in for "xmlbuilder2" (aliased in vite.config.ts).
// vtk.js imports it only to read VTK XML meshes (.vtp), which these viewers never load
// (Cornerstone's mesh cache and OrientationMarkerTool). The real package drags ~300 kB of
// XML/DOM code plus Node's "events" (a load-time crash in browsers) into the DICOM chunk.
export function create(): never {
  throw new Error('VTK XML readers are not included in the ImageHub viewer bundle');
}
