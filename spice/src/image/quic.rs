//! QUIC: SPICE's lossless photographic codec (spice-common `quic.c`), an
//! adaptive Golomb-Rice coder over prediction residuals with a run mode.
//!
//! The payload is a stream of little-endian u32 words read MSB-first: a
//! five-word header (magic `"QUIC"`, version 0, image type, width, height)
//! and then the rows, top-down. Each channel value is predicted from its
//! left and upper neighbours; the residual is coded with a Golomb code
//! whose parameter comes from a small adaptive model keyed by the previous
//! residual. When the row above repeats and the current row repeats, a
//! run length is coded instead. RGB24 and RGB32 share one coding; RGBA
//! interleaves an alpha row after each colour row, and alpha is dropped
//! because [`Image`] carries none.

use super::lz::MAX_PIXELS;
use super::Image;
use crate::error::{Error, Result};

/// ASCII "QUIC" as a little-endian word.
const MAGIC: u32 = 0x4349_5551;
const VERSION: u32 = 0;
const TYPE_RGB24: u32 = 3;
const TYPE_RGB32: u32 = 4;
const TYPE_RGBA: u32 = 5;

/// Codewords are capped at 26 bits (`DEFmaxclen`).
const MAX_CODE_LEN: u32 = 26;
/// The model refresh interval grows from 2^0 to 2^6 pixels…
const WMI_MAX: u32 = 6;
/// …one step every 2048 pixels.
const WMI_NEXT: usize = 2048;
/// Counter-halving thresholds per wait-mask index (model evolution 3).
const TRIGGER: [u32; 11] = [110, 550, 900, 800, 550, 400, 350, 250, 140, 160, 140];
/// Run-length coder: the expected run is 2^J[state].
const J: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13,
    14, 15,
];

/// The pseudo-random table that spaces model updates; part of the format,
/// since encoder and decoder must update at the same pixels.
#[rustfmt::skip]
const TABRAND: [u32; 256] = [
    0x02c5_7542, 0x3542_7717, 0x2f5a_2153, 0x9244_f155, 0x7bd2_6d07, 0x354c_6052,
    0x5732_9b28, 0x2993_868e, 0x6cd8_808c, 0x147b_46e0, 0x99db_66af, 0xe32b_4cac,
    0x1b67_1264, 0x9d43_3486, 0x62a4_c192, 0x0608_9a4b, 0x9e3d_ce44, 0xdaab_ee13,
    0x2224_25ea, 0xa46f_331d, 0xcd58_9250, 0x8bb8_1d7f, 0xc8b7_36b9, 0x3594_8d33,
    0xd7ac_7fd0, 0x5fbe_2803, 0x2cfb_c105, 0x013d_bc4e, 0x7a37_820f, 0x39f8_8e9e,
    0xedd5_8794, 0xc507_6689, 0xfcad_a5a4, 0x64c2_f46d, 0xb3ba_3243, 0x8974_b4f9,
    0x5a05_aebd, 0x20af_cd00, 0x39e2_b008, 0x88a1_8a45, 0x600b_de29, 0xf397_1ace,
    0xf37b_0a6b, 0x7041_495b, 0x70b7_07ab, 0x06be_ffbb, 0x4206_051f, 0xe13c_4ee3,
    0xc1a7_8327, 0x91aa_067c, 0x8295_f72a, 0x7329_17a6, 0x1d87_1b4d, 0x4048_f136,
    0xf184_0e7e, 0x6a60_48c1, 0x696c_b71a, 0x7ff5_01c3, 0x0fc6_310b, 0x57e0_f83d,
    0x8cc2_6e74, 0x11a5_25a2, 0x9469_34c7, 0x7cd8_88f0, 0x8f9d_8604, 0x4f86_e73b,
    0x0452_0316, 0xdeee_a20c, 0xf1de_f496, 0x6768_7288, 0xf540_c5b2, 0x2240_1484,
    0x3478_658a, 0xc238_5746, 0x0197_9c2c, 0x5dad_73c8, 0x0321_f58b, 0xf0fe_dbee,
    0x9282_6ddf, 0x284b_ec73, 0x5b1a_1975, 0x03df_1e11, 0x2096_3e01, 0xa17c_f12b,
    0x740d_776e, 0xa7a6_bf3c, 0x01b5_cce4, 0x1118_aa76, 0xfc6f_ac0a, 0xce92_7e9b,
    0x00bf_2567, 0x806f_216c, 0xbca6_9056, 0x795b_d3e9, 0xc9dc_4557, 0x8929_b6c2,
    0x789d_52ec, 0x3f3f_bf40, 0xb919_7368, 0xa38c_15b5, 0xc3b4_4fa8, 0xca83_33b0,
    0xb7e8_d590, 0xbe80_7feb, 0xbf5f_8360, 0xd99e_2f5c, 0x3729_28e1, 0x7c75_7c4c,
    0x0db5_b154, 0xc01e_de02, 0x1fc8_6e78, 0x1f39_85be, 0xb480_5c77, 0x00c8_80fa,
    0x974c_1b12, 0x35ab_0214, 0xb2dc_840d, 0x5b00_ae37, 0xd313_b026, 0xb260_969d,
    0x7f4c_8879, 0x1734_c4d3, 0x4906_8631, 0xb9f6_a021, 0x6b86_3e6f, 0xcee5_debf,
    0x29f8_c9fb, 0x53dd_6880, 0x72b6_1223, 0x1f67_a9fd, 0x0a0f_6993, 0x13e5_9119,
    0x11cc_a12e, 0xfe6b_6766, 0x16b6_effc, 0x9791_8fc4, 0xc2b8_a563, 0x94f2_f741,
    0x0bfa_8c9a, 0xd153_7ae8, 0xc1da_349c, 0x873c_60ca, 0x9500_5b85, 0x9b5c_080e,
    0xbc8a_bbd9, 0xe1ea_b1d2, 0x6dac_9070, 0x4ea9_ebf1, 0xe0cf_30d4, 0x1ef5_bd7b,
    0xd161_043e, 0x5d2f_a2e2, 0xff5d_3cae, 0x86ed_9f87, 0x2aa1_daa1, 0xbd73_1a34,
    0x9e8f_4b22, 0xb1c2_c67a, 0xc217_58c9, 0xa182_215d, 0xccb0_1948, 0x8d16_8df7,
    0x0423_8cfe, 0x368c_3dbc, 0x0aea_dca5, 0xbad2_1c24, 0x0a71_fee5, 0x9fc5_d872,
    0x54c1_52c6, 0xfc32_9483, 0x6783_384a, 0xeddb_3e1c, 0x65f9_0e30, 0x884a_d098,
    0xce81_675a, 0x4b37_2f7d, 0x68bf_9a39, 0x4344_5f1e, 0x40f8_d8cb, 0x90d5_acb6,
    0x4cd0_7282, 0x349e_eb06, 0x0c9d_5332, 0x520b_24ef, 0x8002_0447, 0x6797_6491,
    0x2f93_1ca3, 0xfe9b_0535, 0xfcd3_0220, 0x61a9_e6cc, 0xa487_d8d7, 0x3f7c_5dd1,
    0x7d01_27c5, 0x48f5_1d15, 0x60de_a871, 0xc9a9_1cb7, 0x58b5_3bb3, 0x9d5e_0b2d,
    0x624a_78b4, 0x30db_ee1b, 0x9bdf_22e7, 0x1df5_c299, 0x2d56_43a7, 0xf4dd_35ff,
    0x03ca_8fd6, 0x53b4_7ed8, 0x6f2c_19aa, 0xfeb0_c1f4, 0x49e5_4438, 0x2f25_77e6,
    0xbf87_6969, 0x7244_0ea9, 0xfa0b_afb8, 0x74f5_b3a0, 0x7dd3_57cd, 0x89ce_1358,
    0x6ef2_cdda, 0x1e77_67f3, 0xa6be_9fdb, 0x4f5f_88f8, 0xba99_4a3a, 0x08ca_6b65,
    0xe089_3818, 0x9e00_a16a, 0xf42b_fc8f, 0x9972_eedc, 0x749c_8b51, 0x32c0_5f5e,
    0xd706_805f, 0x6bfb_b7cf, 0xd921_0a10, 0x31a1_db97, 0x923a_9559, 0x37a7_a1f6,
    0x059f_8861, 0xca49_3e62, 0x6515_7e81, 0x8f64_67dd, 0xab85_ff9f, 0x9331_aff2,
    0x8616_b9f5, 0xedbd_5695, 0xee7e_29b1, 0x313a_c44f, 0xb903_112f, 0x432e_f649,
    0xdc0a_36c0, 0x61cf_2bba, 0x8147_4925, 0xa8b6_c7ad, 0xee59_31de, 0xb2f8_158d,
    0x59fb_7409, 0x2e3d_faed, 0x9af2_5a3f, 0xe1fe_d4d5,
];

/// The Golomb-Rice code family for 8-bit channels: code `l` has
/// `n_gr[l]` ordinary codewords; larger values use a fixed-length escape.
struct Family {
    n_gr: [u32; 8],
    escape_len: [u32; 8],
    escape_suffix: [u32; 8],
    /// A window at or below this starts with the escape's zero prefix.
    escape_prefix_mask: [u32; 8],
    /// Codeword length of each value under each code, for the model.
    code_len: [[u32; 8]; 256],
}

const fn ceil_log2(v: u32) -> u32 {
    if v <= 1 {
        0
    } else {
        32 - (v - 1).leading_zeros()
    }
}

const fn family() -> Family {
    let mut f = Family {
        n_gr: [0; 8],
        escape_len: [0; 8],
        escape_suffix: [0; 8],
        escape_prefix_mask: [0; 8],
        code_len: [[0; 8]; 256],
    };
    let mut l = 0;
    while l < 8 {
        let mut prefix = MAX_CODE_LEN - 8;
        if prefix > (1 << (8 - l)) - 1 {
            prefix = (1 << (8 - l)) - 1;
        }
        f.n_gr[l] = prefix << l;
        f.escape_suffix[l] = ceil_log2(256 - f.n_gr[l]);
        f.escape_len[l] = prefix + f.escape_suffix[l];
        f.escape_prefix_mask[l] = u32::MAX >> prefix;
        let mut n = 0;
        while n < 256 {
            f.code_len[n][l] = if (n as u32) < f.n_gr[l] {
                ((n as u32) >> l) + l as u32 + 1
            } else {
                f.escape_len[l]
            };
            n += 1;
        }
        l += 1;
    }
    f
}

static FAMILY: Family = family();

/// Context buckets: residual `v` selects bucket floor(log2(v + 1)), capped.
const fn buckets() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut v = 0;
    while v < 256 {
        let b = 31 - (v as u32 + 1).leading_zeros();
        t[v] = if b > 7 { 7 } else { b as u8 };
        v += 1;
    }
    t
}

static BUCKET: [u8; 256] = buckets();

/// Residuals are folded (0, -1, 1, -2, …) into 0..=255; this unfolds them.
const fn unfold() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut s = 0;
    while s < 256 {
        t[s] = if s & 1 == 1 {
            255 - (s as u32 >> 1)
        } else {
            s as u32 >> 1
        };
        s += 1;
    }
    t
}

static UNFOLD: [u32; 256] = unfold();

/// Reads MSB-first from little-endian words. Past the end it supplies
/// zeros and records the overrun, which the row loop turns into an error;
/// zeros keep every loop finite, so the hot path needs no error exits.
struct Bits<'a> {
    words: std::slice::ChunksExact<'a, u8>,
    /// Valid bits, MSB-aligned; at least 32 between calls.
    acc: u64,
    avail: u32,
    overrun: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut b = Bits {
            words: data.chunks_exact(4),
            acc: 0,
            avail: 0,
            overrun: false,
        };
        b.refill();
        b
    }

    #[inline(always)]
    fn refill(&mut self) {
        let w = match self.words.next() {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => {
                self.overrun = true;
                0
            }
        };
        self.acc |= u64::from(w) << (32 - self.avail);
        self.avail += 32;
    }

    /// The next 32 bits.
    #[inline(always)]
    fn peek(&self) -> u32 {
        (self.acc >> 32) as u32
    }

    /// Consumes `n` < 32 bits.
    #[inline(always)]
    fn eat(&mut self, n: u32) {
        self.acc <<= n;
        self.avail -= n;
        if self.avail < 32 {
            self.refill();
        }
    }

    fn word(&mut self) -> u32 {
        let w = self.peek();
        self.eat(16);
        self.eat(16);
        w
    }
}

/// Decodes one Golomb-Rice codeword of code `l` from `bits`; returns the
/// folded residual and the codeword length.
#[inline(always)]
fn golomb(l: usize, bits: u32) -> (u8, u32) {
    let l = l & 7;
    if bits > FAMILY.escape_prefix_mask[l] {
        let zeros = bits.leading_zeros();
        let len = zeros + 1 + l as u32;
        let low = (bits >> (32 - len)) & ((1 << l) - 1);
        (((zeros << l) | low) as u8, len)
    } else {
        let len = FAMILY.escape_len[l];
        let suffix = (bits >> (32 - len)) & ((1 << FAMILY.escape_suffix[l]) - 1);
        ((FAMILY.n_gr[l] + suffix) as u8, len)
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Total codeword length each code would have spent, decayed.
    counters: [u32; 8],
    best: u8,
}

/// One channel's adaptive model and the residuals of the current row
/// (`residual[0]` stands for position -1).
struct Model {
    buckets: [Bucket; 8],
    residual: Vec<u8>,
}

impl Model {
    fn new(width: usize) -> Self {
        Model {
            buckets: [Bucket {
                counters: [0; 8],
                best: 7,
            }; 8],
            residual: vec![0; width + 1],
        }
    }

    /// Starts a row: the context of pixel 0 is pixel 0 of the row above.
    fn start_row(&mut self, first: bool) {
        let carry = if first {
            0
        } else {
            self.residual.get(1).copied().unwrap_or(0)
        };
        if let Some(r) = self.residual.first_mut() {
            *r = carry;
        }
    }

    /// Charges residual `value` to the bucket of context `ctx` and picks
    /// the code that would have been cheapest so far.
    #[inline(always)]
    fn update(&mut self, ctx: u8, value: u8, trigger: u32) {
        let bucket = &mut self.buckets[usize::from(BUCKET[usize::from(ctx)]) & 7];
        let lens = &FAMILY.code_len[usize::from(value)];
        let mut best = 7;
        bucket.counters[7] = bucket.counters[7].wrapping_add(lens[7]);
        let mut best_len = bucket.counters[7];
        for i in (0..7).rev() {
            bucket.counters[i] = bucket.counters[i].wrapping_add(lens[i]);
            if bucket.counters[i] < best_len {
                best = i;
                best_len = bucket.counters[i];
            }
        }
        bucket.best = best as u8;
        if best_len > trigger {
            for c in &mut bucket.counters {
                *c >>= 1;
            }
        }
    }
}

/// State shared by the channels coded together (RGB, or alpha alone).
struct State {
    waitcnt: usize,
    seed: u32,
    wm_idx: u32,
    wm_left: usize,
    trigger: u32,
    melc_state: usize,
    melc_len: u32,
}

impl State {
    fn new() -> Self {
        State {
            waitcnt: 0,
            seed: 0xff,
            wm_idx: 0,
            wm_left: WMI_NEXT,
            trigger: TRIGGER[0],
            melc_state: 0,
            melc_len: J[0],
        }
    }

    #[inline(always)]
    fn tabrand(&mut self) -> usize {
        self.seed = self.seed.wrapping_add(1);
        TABRAND[(self.seed & 0xff) as usize] as usize
    }

    fn set_melc(&mut self, state: usize) {
        self.melc_state = state.min(J.len() - 1);
        self.melc_len = J[self.melc_state];
    }

    /// Reads a run length; fails early once it exceeds `max`, so hostile
    /// streams of ones cannot spin.
    fn run_length(&mut self, bits: &mut Bits<'_>, max: usize) -> Result<usize, &'static str> {
        let mut run = 0usize;
        loop {
            let ones = (!bits.peek()).leading_zeros().min(8);
            for _ in 0..ones {
                run += 1 << self.melc_len;
                self.set_melc(self.melc_state + 1);
            }
            if ones != 8 {
                bits.eat(ones + 1);
                break;
            }
            bits.eat(8);
            if run > max {
                return Err("run past the row end");
            }
        }
        if self.melc_len > 0 {
            run += (bits.peek() >> (32 - self.melc_len)) as usize;
            bits.eat(self.melc_len);
        }
        self.set_melc(self.melc_state.saturating_sub(1));
        if run > max {
            return Err("run past the row end");
        }
        Ok(run)
    }
}

/// A pixel type whose channels the coder sees: xRGB words or alpha bytes.
trait Px: Copy + PartialEq + Default {
    const N: usize;
    fn get(self, c: usize) -> u32;
    fn or(self, c: usize, v: u32) -> Self;
}

impl Px for u32 {
    const N: usize = 3;
    #[inline(always)]
    fn get(self, c: usize) -> u32 {
        (self >> (16 - 8 * c)) & 0xff
    }
    #[inline(always)]
    fn or(self, c: usize, v: u32) -> Self {
        self | ((v & 0xff) << (16 - 8 * c))
    }
}

impl Px for u8 {
    const N: usize = 1;
    #[inline(always)]
    fn get(self, _: usize) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn or(self, _: usize, v: u32) -> Self {
        v as u8
    }
}

mod rows;

fn decode(data: &[u8]) -> Result<Image, &'static str> {
    let mut bits = Bits::new(data);
    let magic = bits.word();
    let version = bits.word();
    let ty = bits.word();
    let width = bits.word();
    let height = bits.word();
    if bits.overrun {
        return Err("truncated header");
    }
    if magic != MAGIC {
        return Err("bad magic");
    }
    if version != VERSION {
        return Err("unsupported version");
    }
    let alpha = match ty {
        TYPE_RGB24 | TYPE_RGB32 => false,
        TYPE_RGBA => true,
        _ => return Err("unsupported image type"),
    };
    if width == 0 || height == 0 {
        return Err("empty image");
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS as u64 {
        return Err("image too large");
    }
    let (w, h) = (width as usize, height as usize);
    // Every pixel of the first row, and the first pixel of every row, costs
    // at least a bit per channel: this bounds both sides by the payload.
    let payload_bits = (data.len() / 4 * 32) as u64;
    if u64::from(width) * 3 > payload_bits || u64::from(height) * 3 > payload_bits {
        return Err("payload too short for the image size");
    }

    let mut rgb = [Model::new(w), Model::new(w), Model::new(w)];
    let mut rgb_state = State::new();
    let mut alpha_model = [Model::new(if alpha { w } else { 0 })];
    let mut alpha_state = State::new();
    let mut alpha_rows = if alpha {
        [vec![0u8; w], vec![0u8; w]]
    } else {
        [vec![], vec![]]
    };

    // Grown a row at a time: memory follows decoding progress, not the
    // header's claim.
    let mut pixels: Vec<u32> = Vec::with_capacity((w * h).min(1 << 20));
    for row in 0..h {
        let start = pixels.len();
        pixels.resize(start + w, 0);
        let (head, cur) = pixels
            .split_at_mut_checked(start)
            .ok_or("row out of range")?;
        let prev = if row == 0 {
            None
        } else {
            head.get(start - w..)
        };
        for m in &mut rgb {
            m.start_row(row == 0);
        }
        rows::row(&mut bits, &mut rgb_state, &mut rgb, prev, cur)?;
        if alpha {
            let [a_prev, a_cur] = &mut alpha_rows;
            alpha_model[0].start_row(row == 0);
            let prev = if row == 0 { None } else { Some(&a_prev[..]) };
            rows::row(&mut bits, &mut alpha_state, &mut alpha_model, prev, a_cur)?;
            std::mem::swap(a_prev, a_cur);
        }
    }
    Ok(Image {
        width,
        height,
        pixels,
    })
}

/// Decodes a QUIC payload (the bytes after its `data_size`).
pub fn decode_quic(data: &[u8]) -> Result<Image> {
    decode(data).map_err(|reason| Error::Decode {
        codec: "quic",
        reason,
    })
}

#[cfg(test)]
mod tests;
