// sin_cos(θ) = (sin θ, cos θ) to a few f32 ulps for |θ| < 2^17·π/2 ≈ 2.05e5, without the
// platform's sin/cos: WGSL only bounds their absolute error by 2^-11 on [−π, π] (SwiftShader is
// about that coarse), and RoPE angles reach 1e5 rad at long context.
// Cody–Waite reduction θ = k·π/2 + r with π/2 split in four parts, the first three short enough
// (5, 7, 7 significant bits) that k·P_i is exact for |k| < 2^17 and each subtraction loses
// nothing; then Cephes' sinf / cosf minimax polynomials on r ∈ [−π/4, π/4] and the quadrant k mod 4.

const SIN_COS_TWO_OVER_PI: f32 = 0.6366197466850281;
const SIN_COS_P1: f32 = 1.5625;
const SIN_COS_P2: f32 = 0.0081787109375;
const SIN_COS_P3: f32 = 0.00011730194091796875;
const SIN_COS_P4: f32 = 3.139164786504813e-7;

fn sin_cos(theta: f32) -> vec2f {
  let k = round(theta * SIN_COS_TWO_OVER_PI);
  let r = (((theta - k * SIN_COS_P1) - k * SIN_COS_P2) - k * SIN_COS_P3) - k * SIN_COS_P4;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  // sin(r + q·π/2), cos(r + q·π/2) for q = 0, 1, 2, 3.
  switch (i32(k) & 3) {
    case 0: { return vec2f(s, c); }
    case 1: { return vec2f(c, -s); }
    case 2: { return vec2f(-s, -c); }
    default: { return vec2f(-c, s); }
  }
}
