;; AdamW's update over the flat parameter vector (see src/train/adamwKernel.ts): the same float64 operations, in
;; the same order, as the JavaScript loop of src/train/optim.ts — each float32 input promoted, each result
;; rounded to float32 once when stored — so its output is bitwise that loop's, two parameters per SIMD step.
;; Pointers are byte offsets into the imported memory. Rebuild the embedded bytes with `npm run build:kernels`.
(module
  (import "env" "memory" (memory 1))

  ;; For i < n: m = β1·m + (1 − β1)·g; v = β2·v + ((1 − β2)·g)·g;
  ;; θ = θ·decay − (stepSize·m) / (√v / √bc2 + eps), with the unrounded m and v, as the JavaScript loop.
  (func (export "adamw")
    (param $theta i32) (param $grad i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f64) (param $omb1 f64) (param $b2 f64) (param $omb2 f64)
    (param $stepSize f64) (param $decay f64) (param $sqrtBc2 f64) (param $eps f64)
    (local $pairs i32) (local $g v128) (local $mi v128) (local $vi v128) (local $th v128)
    (local $sg f64) (local $smi f64) (local $svi f64)
    (local.set $pairs (i32.shr_u (local.get $n) (i32.const 1)))
    (block $done
      (loop $pair
        (br_if $done (i32.eqz (local.get $pairs)))
        (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $grad))))
        (local.set $mi (f64x2.add
          (f64x2.mul (f64x2.splat (local.get $b1)) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $m))))
          (f64x2.mul (f64x2.splat (local.get $omb1)) (local.get $g))))
        (local.set $vi (f64x2.add
          (f64x2.mul (f64x2.splat (local.get $b2)) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $v))))
          (f64x2.mul (f64x2.mul (f64x2.splat (local.get $omb2)) (local.get $g)) (local.get $g))))
        (v128.store64_lane 0 (local.get $m) (f32x4.demote_f64x2_zero (local.get $mi)))
        (v128.store64_lane 0 (local.get $v) (f32x4.demote_f64x2_zero (local.get $vi)))
        (local.set $th (f64x2.sub
          (f64x2.mul (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $theta))) (f64x2.splat (local.get $decay)))
          (f64x2.div
            (f64x2.mul (f64x2.splat (local.get $stepSize)) (local.get $mi))
            (f64x2.add (f64x2.div (f64x2.sqrt (local.get $vi)) (f64x2.splat (local.get $sqrtBc2)))
              (f64x2.splat (local.get $eps))))))
        (v128.store64_lane 0 (local.get $theta) (f32x4.demote_f64x2_zero (local.get $th)))
        (local.set $theta (i32.add (local.get $theta) (i32.const 8)))
        (local.set $grad (i32.add (local.get $grad) (i32.const 8)))
        (local.set $m (i32.add (local.get $m) (i32.const 8)))
        (local.set $v (i32.add (local.get $v) (i32.const 8)))
        (local.set $pairs (i32.sub (local.get $pairs) (i32.const 1)))
        (br $pair)))
    ;; An odd n: the last parameter, the same operations in scalar form.
    (if (i32.and (local.get $n) (i32.const 1))
      (then
        (local.set $sg (f64.promote_f32 (f32.load (local.get $grad))))
        (local.set $smi (f64.add (f64.mul (local.get $b1) (f64.promote_f32 (f32.load (local.get $m))))
          (f64.mul (local.get $omb1) (local.get $sg))))
        (local.set $svi (f64.add (f64.mul (local.get $b2) (f64.promote_f32 (f32.load (local.get $v))))
          (f64.mul (f64.mul (local.get $omb2) (local.get $sg)) (local.get $sg))))
        (f32.store (local.get $m) (f32.demote_f64 (local.get $smi)))
        (f32.store (local.get $v) (f32.demote_f64 (local.get $svi)))
        (f32.store (local.get $theta) (f32.demote_f64 (f64.sub
          (f64.mul (f64.promote_f32 (f32.load (local.get $theta))) (local.get $decay))
          (f64.div (f64.mul (local.get $stepSize) (local.get $smi))
            (f64.add (f64.div (f64.sqrt (local.get $svi)) (local.get $sqrtBc2)) (local.get $eps)))))))))
)
