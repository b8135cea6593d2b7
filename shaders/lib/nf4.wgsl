// NF4 helpers shared by the quantize, dequantize and matmul kernels (formats.md §1.1–§1.5).
// Constants are written as hex floats so they are exact in float32 (a decimal literal may round
// either way when converted); tests/unit/nf4_wgsl.test.ts checks them against src/formats/nf4.ts.

// The NF4 code, index = nibble (§1.1).
const NF4_CODE = array<f32, 16>(
  -0x1.000000p0f, -0x1.647362p-1f, -0x1.0cd660p-1f, -0x1.946540p-2f,
  -0x1.23449ap-2f, -0x1.7a6a7ep-3f, -0x1.74f0e2p-4f, 0.0f,
  0x1.45f5fep-4f, 0x1.4995c6p-3f, 0x1.f809bap-3f, 0x1.5a0674p-2f,
  0x1.c34970p-2f, 0x1.200f56p-1f, 0x1.722766p-1f, 0x1.000000p0f,
);

// float32 midpoints (c[i] + c[i+1]) / 2 of consecutive codes (§1.2).
const NF4_MID = array<f32, 15>(
  -0x1.b239b0p-1f, -0x1.38a4e0p-1f, -0x1.d70900p-2f, -0x1.5bd4ecp-2f, -0x1.e079d8p-3f,
  -0x1.1a7178p-3f, -0x1.74f0e2p-5f, 0x1.45f5fep-5f, 0x1.ec90c4p-4f, 0x1.a0cfc0p-3f,
  0x1.2b05a8p-2f, 0x1.8ea7f2p-2f, 0x1.00da08p-1f, 0x1.491b5ep-1f, 0x1.b913b4p-1f,
);

// Layout of the shared `stats` buffer (src/kernels/nf4_tensor.ts).
const NF4_STATS_OFFSET: u32 = 256u;
const NF4_STATS_NESTED: u32 = 260u;

// The nibble for a scaled value s in [-1, 1]: how many midpoints lie strictly below s, so a value
// exactly on a midpoint takes the lower code (torch.bucketize, right=False).
fn nf4_encode(s: f32) -> u32 {
  var q = 0u;
  for (var i = 0u; i < 15u; i++) {
    q += select(0u, 1u, s > NF4_MID[i]);
  }
  return q;
}

// Bit position of element j (0..7) of a packed word: byte j/2, the even element in the high nibble.
fn nf4_shift(j: u32) -> u32 {
  return (j >> 1u) * 8u + select(0u, 4u, (j & 1u) == 0u);
}

// a / b rounded to nearest-even, for a ≥ 0 and b > 0. WGSL's `/` is only accurate to 2.5 ulp, and
// quantization scales by 1/absmax, so the codes would depend on the GPU; this long division on the
// 24-bit significands does not. Exact for normal results; subnormal or overflowing results (absmax
// outside [2^-126, 2^126]) fall back to `/`, outside the bit-exact contract.
fn nf4_div_exact(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  if ((ua & 0x7fffffffu) == 0u) {
    return 0.0;
  }
  var ea = i32(ua >> 23u);
  var eb = i32(ub >> 23u);
  var ma = ua & 0x7fffffu;
  var mb = ub & 0x7fffffu;
  if (ea == 0) {
    let s = countLeadingZeros(ma) - 8u;
    ma = ma << s;
    ea = 1 - i32(s);
  } else {
    ma = ma | 0x800000u;
  }
  if (eb == 0) {
    if (mb == 0u) {
      return a / b;
    }
    let s = countLeadingZeros(mb) - 8u;
    mb = mb << s;
    eb = 1 - i32(s);
  } else {
    mb = mb | 0x800000u;
  }
  var e = ea - eb + 127;
  var r = ma;
  if (ma < mb) {
    r = ma << 1u;
    e -= 1;
  }
  // mb ≤ r < 2·mb: 24 quotient bits, the first one 1.
  var q = 0u;
  for (var i = 0u; i < 24u; i++) {
    q = q << 1u;
    if (r >= mb) {
      r -= mb;
      q |= 1u;
    }
    r = r << 1u;
  }
  // r is now twice the remainder: compare with mb for the rounding bit, ties to even.
  if (r > mb || (r == mb && (q & 1u) == 1u)) {
    q += 1u;
  }
  if (q == 0x1000000u) {
    q = 0x800000u;
    e += 1;
  }
  if (e <= 0 || e >= 255) {
    return a / b;
  }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}
