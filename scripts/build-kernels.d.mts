export const WAT_PATH: string;
export const OUT_PATH: string;
export function assembleKernels(): Promise<Buffer>;
export function kernelsModuleText(bytes: Buffer): string;
