// AdamW exactly as torch.optim.AdamW (decoupled weight decay, bias-corrected moments), with global gradient-norm
// clipping as torch.nn.utils.clip_grad_norm_, over the flat parameter vector: a handful of float64 operations per
// parameter, which makes moments trivial to checkpoint. The per-parameter update runs as a WebAssembly SIMD kernel
// on the training loop's buffers (adamwKernel.ts, bitwise this file's loop) and as the loop on any other arrays.
import type { AdamWConfig } from "../config/config";
import { groupRange, type Layout, type Range } from "../model/params";
import { adamwKernelFor } from "./adamwKernel";

export type { AdamWConfig };

export interface AdamWState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

export function newAdamWState(size: number): AdamWState {
  return { step: 0, m: new Float32Array(size), v: new Float32Array(size) };
}

/**
 * What a hook sees each step. `grad(group)` is a live view of the clipped gradient of a contiguous group:
 * write into it (or call `setGrad`) to replace the gradient before the moments see it.
 */
export interface GradHookContext {
  step: number;
  layout: Layout;
  grad(group: string): Float32Array;
  /** The whole clipped gradient (live, theta's layout). */
  all: Float32Array;
  setGrad(group: string, values: Float32Array): void;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export interface UpdateHookContext {
  step: number;
  layout: Layout;
  /** Parameters before the step (a copy) and after it (live): their difference is the update. */
  before: Float32Array;
  after: Float32Array;
}

export interface StepHooks {
  onGrad?: (ctx: GradHookContext) => void;
  onUpdate?: (ctx: UpdateHookContext) => void;
}

export function globalNorm(g: Float32Array): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** One AdamW step in place on theta; `grad` is clipped in place. Returns the pre-clip gradient norm. */
export function adamwStep(
  theta: Float32Array,
  grad: Float32Array,
  state: AdamWState,
  cfg: AdamWConfig,
  layout?: Layout,
  hooks?: StepHooks,
): number {
  const norm = globalNorm(grad);
  // clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
  if (cfg.clip > 0 && Number.isFinite(cfg.clip)) {
    const coef = cfg.clip / (norm + 1e-6);
    if (coef < 1) for (let i = 0; i < grad.length; i++) grad[i] *= coef;
  }
  state.step += 1;
  if (hooks?.onGrad) {
    if (!layout) throw new Error("adamwStep: hooks need the parameter layout");
    hooks.onGrad({
      step: state.step,
      layout,
      gradNorm: norm,
      all: grad,
      grad: (g) => sub(grad, groupRange(layout, g)),
      setGrad: (g, values) => {
        const view = sub(grad, groupRange(layout, g));
        if (values.length !== view.length) {
          throw new Error(`setGrad("${g}"): expected ${view.length} values, got ${values.length}`);
        }
        view.set(values);
      },
    });
  }
  const before = hooks?.onUpdate ? theta.slice() : undefined;
  const { lr, beta1, beta2, eps, weightDecay } = cfg;
  const { m, v } = state;
  const bc1 = 1 - beta1 ** state.step;
  const sqrtBc2 = Math.sqrt(1 - beta2 ** state.step);
  const stepSize = lr / bc1;
  const decay = 1 - lr * weightDecay;
  // The SIMD kernel when θ, g, m and v are the loop's optimBuffers (bitwise this loop), else the loop.
  const kernel = adamwKernelFor(theta, grad, m, v);
  if (kernel) kernel({ beta1, beta2, stepSize, decay, sqrtBc2, eps });
  else
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i];
      const mi = beta1 * m[i] + (1 - beta1) * g;
      const vi = beta2 * v[i] + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      theta[i] = theta[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  if (hooks?.onUpdate && layout && before) hooks.onUpdate({ step: state.step, layout, before, after: theta });
  return norm;
}

const sub = (a: Float32Array, r: Range) => a.subarray(r.start, r.end);
