//! QUIC row decoding: the part of the codec that runs per pixel.

use super::{golomb, Bits, Model, Px, State, BUCKET, TRIGGER, UNFOLD, WMI_MAX, WMI_NEXT};

/// Where a pixel sits decides its prediction.
const FIRST_OF_FIRST_ROW: u8 = 0;
const FIRST_ROW: u8 = 1;
const FIRST_OF_ROW: u8 = 2;
const INNER: u8 = 3;

/// Decodes pixel `i` of `cur`, every channel, and records its residuals.
#[inline(always)]
fn pixel<P: Px, const AT: u8>(
    bits: &mut Bits<'_>,
    models: &mut [Model],
    prev: &[P],
    cur: &mut [P],
    i: usize,
) {
    let left = if i > 0 {
        cur.get(i - 1).copied().unwrap_or_default()
    } else {
        P::default()
    };
    let up = prev.get(i).copied().unwrap_or_default();
    let mut p = P::default();
    for (c, m) in models.iter_mut().enumerate().take(P::N) {
        let Some([ctx, slot]) = m.residual.get_mut(i..i + 2) else {
            continue;
        };
        let best = m.buckets[usize::from(BUCKET[usize::from(*ctx)]) & 7].best;
        let (res, len) = golomb(usize::from(best), bits.peek());
        bits.eat(len);
        *slot = res;
        let pred = match AT {
            FIRST_OF_FIRST_ROW => 0,
            FIRST_ROW => left.get(c),
            FIRST_OF_ROW => up.get(c),
            _ => (left.get(c) + up.get(c)) >> 1,
        };
        p = p.or(c, UNFOLD[usize::from(res)] + pred);
    }
    if let Some(slot) = cur.get_mut(i) {
        *slot = p;
    }
}

/// Feeds the residual at `i` to each channel's model.
#[inline(always)]
fn update(models: &mut [Model], i: usize, trigger: u32) {
    for m in models.iter_mut() {
        if let Some(&[ctx, value]) = m.residual.get(i..i + 2) {
            m.update(ctx, value, trigger);
        }
    }
}

/// Decodes one row. The model is refreshed at pseudo-random intervals
/// whose mean grows every 2048 pixels, so the row is cut into segments
/// at those boundaries.
pub(super) fn row<P: Px>(
    bits: &mut Bits<'_>,
    st: &mut State,
    models: &mut [Model],
    prev: Option<&[P]>,
    cur: &mut [P],
) -> Result<(), &'static str> {
    let mut pos = 0;
    let mut left = cur.len();
    while st.wm_idx < WMI_MAX && st.wm_left <= left {
        if st.wm_left > 0 {
            segment(bits, st, models, prev, cur, pos, pos + st.wm_left)?;
            left -= st.wm_left;
            pos += st.wm_left;
        }
        st.wm_idx += 1;
        st.trigger = TRIGGER[(st.wm_idx as usize).min(TRIGGER.len() - 1)];
        st.wm_left = WMI_NEXT;
    }
    if left > 0 {
        segment(bits, st, models, prev, cur, pos, pos + left)?;
        if st.wm_idx < WMI_MAX {
            st.wm_left -= left;
        }
    }
    if bits.overrun {
        return Err("truncated stream");
    }
    Ok(())
}

/// Whether the coder switched to run mode before pixel `i`: the row above
/// repeats there and this row has just repeated too.
#[inline(always)]
fn run_predicted<P: Px>(prev: &[P], cur: &[P], i: usize, run_index: usize) -> bool {
    i > 2 && run_index != i && prev.get(i - 1) == prev.get(i) && cur.get(i - 1) == cur.get(i - 2)
}

fn segment<P: Px>(
    bits: &mut Bits<'_>,
    st: &mut State,
    models: &mut [Model],
    prev: Option<&[P]>,
    cur: &mut [P],
    mut i: usize,
    end: usize,
) -> Result<(), &'static str> {
    let wait_mask = (1usize << st.wm_idx) - 1;
    let trigger = st.trigger;
    let prev_row = prev.unwrap_or(&[]);
    if i == 0 {
        if prev.is_some() {
            pixel::<P, FIRST_OF_ROW>(bits, models, prev_row, cur, 0);
        } else {
            pixel::<P, FIRST_OF_FIRST_ROW>(bits, models, prev_row, cur, 0);
        }
        if st.waitcnt > 0 {
            st.waitcnt -= 1;
        } else {
            st.waitcnt = st.tabrand() & wait_mask;
            update(models, 0, trigger);
        }
        i = 1;
    }
    let mut stop = i + st.waitcnt;

    let Some(prev_row) = prev else {
        // The first row has no row above, hence no runs.
        while stop < end {
            while i <= stop {
                pixel::<P, FIRST_ROW>(bits, models, prev_row, cur, i);
                i += 1;
            }
            update(models, stop, trigger);
            stop = i + (st.tabrand() & wait_mask);
        }
        while i < end {
            pixel::<P, FIRST_ROW>(bits, models, prev_row, cur, i);
            i += 1;
        }
        st.waitcnt = stop - end;
        return Ok(());
    };

    let mut run_index = 0;
    loop {
        let mut run = false;
        'decode: {
            while stop < end {
                while i <= stop {
                    if run_predicted(prev_row, cur, i, run_index) {
                        run = true;
                        break 'decode;
                    }
                    pixel::<P, INNER>(bits, models, prev_row, cur, i);
                    i += 1;
                }
                update(models, stop, trigger);
                stop = i + (st.tabrand() & wait_mask);
            }
            while i < end {
                if run_predicted(prev_row, cur, i, run_index) {
                    run = true;
                    break 'decode;
                }
                pixel::<P, INNER>(bits, models, prev_row, cur, i);
                i += 1;
            }
        }
        if !run {
            st.waitcnt = stop - end;
            return Ok(());
        }
        // Run mode: the pending wait carries over the run.
        st.waitcnt = stop - i;
        run_index = i;
        let len = st.run_length(bits, end - i)?;
        let value = cur.get(i - 1).copied().unwrap_or_default();
        if let Some(run) = cur.get_mut(i..i + len) {
            run.fill(value);
        }
        i += len;
        if i == end {
            return Ok(());
        }
        stop = i + st.waitcnt;
    }
}
