//! Captchas for sign-in after repeated failures: an image made here, its
//! answer kept in the tenant's store until it is used once or expires, so
//! the browser may be answered by any node.

use captcha::filters::{Dots, Noise, Wave};
use captcha::Captcha;

use super::records::{CaptchaRecord, Captchas};
use crate::db::{fresh_request_id, TenantDb};
use crate::http::{AppError, AppResult};

/// How long a captcha may be answered.
pub const TTL_S: u64 = 300;

/// A new captcha: its id and the PNG.
pub struct Issued {
    pub id: String,
}

fn well_formed(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Draws a captcha (CPU work, so off the async threads) and stores it.
pub async fn issue(db: &TenantDb, fixed: Option<&str>, now: u64) -> AppResult<Issued> {
    let fixed: Option<Vec<char>> = fixed.map(|f| f.chars().collect());
    let (answer, png) = tokio::task::spawn_blocking(move || {
        let mut c = Captcha::new();
        match &fixed {
            // One character at a time: `set_chars` is the alphabet that
            // random characters are drawn from.
            Some(chars) => {
                for ch in chars {
                    c.set_chars(&[*ch]).add_char();
                }
            }
            None => {
                c.add_chars(5);
            }
        }
        c.apply_filter(Noise::new(0.2))
            .apply_filter(Wave::new(2.0, 12.0))
            .apply_filter(Dots::new(8))
            .view(200, 70);
        (c.chars_as_string(), c.as_png())
    })
    .await
    .map_err(|e| AppError::Internal(format!("captcha task: {e}")))?;
    let png = png.ok_or_else(|| AppError::Internal("captcha image".into()))?;
    let id = crate::viewer::random_hex(16);
    let record = CaptchaRecord {
        answer: answer.to_lowercase(),
        expires_at: now + TTL_S,
        png,
    };
    db.put::<Captchas>(&id, &record, fresh_request_id()).await?;
    Ok(Issued { id })
}

/// The image of captcha `id`, while it can be answered.
pub async fn image(db: &TenantDb, id: &str, now: u64) -> AppResult<Option<Vec<u8>>> {
    if !well_formed(id) {
        return Ok(None);
    }
    Ok(db
        .get::<Captchas>(id)
        .await?
        .filter(|r| r.expires_at > now)
        .map(|r| r.png))
}

/// Uses captcha `id` up (whatever the answer: one guess per image) and
/// says whether `answer` was right and in time.
pub async fn redeem(db: &TenantDb, id: &str, answer: &str, now: u64) -> AppResult<bool> {
    if !well_formed(id) {
        return Ok(false);
    }
    let mut taken = None;
    db.update::<Captchas, _>(id, |current| {
        taken = current;
        Ok(None)
    })
    .await?;
    Ok(taken.is_some_and(|r| r.expires_at > now && r.answer == answer.trim().to_lowercase()))
}
