// Per-viewer tool group: wheel scrolls, left = W/L (or a measurement tool), middle = pan, right = zoom.
import {
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
} from '@cornerstonejs/tools';
import { RENDERING_ENGINE_ID } from './setup';

const { MouseBindings } = ToolEnums;

export type LeftTool = 'WindowLevel' | 'Length' | 'RectangleROI';

const LEFT_TOOLS: Record<LeftTool, string> = {
  WindowLevel: WindowLevelTool.toolName,
  Length: LengthTool.toolName,
  RectangleROI: RectangleROITool.toolName,
};

export interface ViewerTools {
  setLeftTool(tool: LeftTool): void;
  leftTool(): LeftTool;
  destroy(): void;
}

export function createTools(viewportId: string): ViewerTools {
  const groupId = `ih-tools-${viewportId}`;
  ToolGroupManager.destroyToolGroup(groupId); // a re-mounted container reuses its id
  const group = ToolGroupManager.createToolGroup(groupId);
  if (!group) throw new Error(`could not create tool group ${groupId}`);
  for (const name of [StackScrollTool, PanTool, ZoomTool, ...Object.values(LEFT_TOOLS)]) {
    group.addTool(typeof name === 'string' ? name : name.toolName);
  }
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  // Measurement tools stay passive when not on the left button, so existing annotations remain editable.
  group.setToolPassive(LengthTool.toolName);
  group.setToolPassive(RectangleROITool.toolName);
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  group.addViewport(viewportId, RENDERING_ENGINE_ID);

  let current: LeftTool = 'WindowLevel';
  return {
    setLeftTool(tool) {
      if (tool === current) return;
      group.setToolPassive(LEFT_TOOLS[current]);
      group.setToolActive(LEFT_TOOLS[tool], { bindings: [{ mouseButton: MouseBindings.Primary }] });
      current = tool;
    },
    leftTool: () => current,
    destroy: () => ToolGroupManager.destroyToolGroup(groupId),
  };
}
