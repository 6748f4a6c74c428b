export interface Kernel {
  wat: string;
  out: string;
  name: string;
}
export const KERNELS: Kernel[];
export function assembleKernels(watPath: string): Promise<Buffer>;
export function kernelsModuleText(bytes: Buffer, kernel: Kernel): string;
