//! PC XT (set 1) scancodes for browser key names (`KeyboardEvent.code`) and
//! for the characters of a US keyboard layout.

use crate::{Error, Result};

/// One key's scancode. Extended keys are sent with the 0xE0 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scancode {
    pub code: u8,
    pub extended: bool,
}

impl Scancode {
    const fn plain(code: u8) -> Self {
        Scancode {
            code,
            extended: false,
        }
    }
    const fn ext(code: u8) -> Self {
        Scancode {
            code,
            extended: true,
        }
    }

    /// The value of SPICE's KEY_DOWN: the bytes as they would come from the
    /// keyboard, little-endian (0xE0 first for extended keys).
    pub fn down(self) -> u32 {
        if self.extended {
            0xe0 | (u32::from(self.code) << 8)
        } else {
            u32::from(self.code)
        }
    }

    /// The value of SPICE's KEY_UP: the break code has bit 7 set.
    pub fn up(self) -> u32 {
        if self.extended {
            0xe0 | (u32::from(self.code | 0x80) << 8)
        } else {
            u32::from(self.code | 0x80)
        }
    }
}

pub const SHIFT: Scancode = Scancode::plain(0x2a);
pub const ENTER: Scancode = Scancode::plain(0x1c);

/// Letters in scancode order, row by row.
const ROWS: [(&str, u8); 3] = [("QWERTYUIOP", 0x10), ("ASDFGHJKL", 0x1e), ("ZXCVBNM", 0x2c)];

/// The scancode for a `KeyboardEvent.code` name such as "KeyA",
/// "Digit1", "ArrowUp" or "Enter".
pub fn scancode_for_code(name: &str) -> Result<Scancode> {
    if let Some(letter) = name.strip_prefix("Key") {
        for (row, first) in ROWS {
            if let Some(i) = row.find(letter).filter(|_| letter.len() == 1) {
                return Ok(Scancode::plain(first + i as u8));
            }
        }
    }
    if let Some(d) = name
        .strip_prefix("Digit")
        .and_then(|d| d.parse::<u8>().ok())
    {
        if d <= 9 {
            return Ok(Scancode::plain(if d == 0 { 0x0b } else { d + 1 }));
        }
    }
    if let Some(n) = name.strip_prefix('F').and_then(|d| d.parse::<u8>().ok()) {
        match n {
            1..=10 => return Ok(Scancode::plain(0x3a + n)),
            11 => return Ok(Scancode::plain(0x57)),
            12 => return Ok(Scancode::plain(0x58)),
            _ => {}
        }
    }
    let sc = match name {
        "Escape" => Scancode::plain(0x01),
        "Minus" => Scancode::plain(0x0c),
        "Equal" => Scancode::plain(0x0d),
        "Backspace" => Scancode::plain(0x0e),
        "Tab" => Scancode::plain(0x0f),
        "BracketLeft" => Scancode::plain(0x1a),
        "BracketRight" => Scancode::plain(0x1b),
        "Enter" => ENTER,
        "ControlLeft" => Scancode::plain(0x1d),
        "Semicolon" => Scancode::plain(0x27),
        "Quote" => Scancode::plain(0x28),
        "Backquote" => Scancode::plain(0x29),
        "ShiftLeft" => SHIFT,
        "Backslash" => Scancode::plain(0x2b),
        "Comma" => Scancode::plain(0x33),
        "Period" => Scancode::plain(0x34),
        "Slash" => Scancode::plain(0x35),
        "ShiftRight" => Scancode::plain(0x36),
        "NumpadMultiply" => Scancode::plain(0x37),
        "AltLeft" => Scancode::plain(0x38),
        "Space" => Scancode::plain(0x39),
        "CapsLock" => Scancode::plain(0x3a),
        "NumLock" => Scancode::plain(0x45),
        "ScrollLock" => Scancode::plain(0x46),
        "Numpad7" => Scancode::plain(0x47),
        "Numpad8" => Scancode::plain(0x48),
        "Numpad9" => Scancode::plain(0x49),
        "NumpadSubtract" => Scancode::plain(0x4a),
        "Numpad4" => Scancode::plain(0x4b),
        "Numpad5" => Scancode::plain(0x4c),
        "Numpad6" => Scancode::plain(0x4d),
        "NumpadAdd" => Scancode::plain(0x4e),
        "Numpad1" => Scancode::plain(0x4f),
        "Numpad2" => Scancode::plain(0x50),
        "Numpad3" => Scancode::plain(0x51),
        "Numpad0" => Scancode::plain(0x52),
        "NumpadDecimal" => Scancode::plain(0x53),
        "IntlBackslash" => Scancode::plain(0x56),
        "NumpadEnter" => Scancode::ext(0x1c),
        "ControlRight" => Scancode::ext(0x1d),
        "NumpadDivide" => Scancode::ext(0x35),
        "PrintScreen" => Scancode::ext(0x37),
        "AltRight" => Scancode::ext(0x38),
        "Home" => Scancode::ext(0x47),
        "ArrowUp" => Scancode::ext(0x48),
        "PageUp" => Scancode::ext(0x49),
        "ArrowLeft" => Scancode::ext(0x4b),
        "ArrowRight" => Scancode::ext(0x4d),
        "End" => Scancode::ext(0x4f),
        "ArrowDown" => Scancode::ext(0x50),
        "PageDown" => Scancode::ext(0x51),
        "Insert" => Scancode::ext(0x52),
        "Delete" => Scancode::ext(0x53),
        "MetaLeft" => Scancode::ext(0x5b),
        "MetaRight" => Scancode::ext(0x5c),
        "ContextMenu" => Scancode::ext(0x5d),
        _ => return Err(Error::UnknownKey(name.to_string())),
    };
    Ok(sc)
}

/// The key and whether Shift must be held to type `c` on a US layout.
pub fn scancode_for_char(c: char) -> Result<(Scancode, bool)> {
    if c.is_ascii_alphabetic() {
        let code = format!("Key{}", c.to_ascii_uppercase());
        return Ok((scancode_for_code(&code)?, c.is_ascii_uppercase()));
    }
    if c.is_ascii_digit() {
        return Ok((scancode_for_code(&format!("Digit{c}"))?, false));
    }
    let (name, shift) = match c {
        '\n' | '\r' => ("Enter", false),
        '\t' => ("Tab", false),
        ' ' => ("Space", false),
        '-' => ("Minus", false),
        '_' => ("Minus", true),
        '=' => ("Equal", false),
        '+' => ("Equal", true),
        '[' => ("BracketLeft", false),
        '{' => ("BracketLeft", true),
        ']' => ("BracketRight", false),
        '}' => ("BracketRight", true),
        '\\' => ("Backslash", false),
        '|' => ("Backslash", true),
        ';' => ("Semicolon", false),
        ':' => ("Semicolon", true),
        '\'' => ("Quote", false),
        '"' => ("Quote", true),
        '`' => ("Backquote", false),
        '~' => ("Backquote", true),
        ',' => ("Comma", false),
        '<' => ("Comma", true),
        '.' => ("Period", false),
        '>' => ("Period", true),
        '/' => ("Slash", false),
        '?' => ("Slash", true),
        '!' => ("Digit1", true),
        '@' => ("Digit2", true),
        '#' => ("Digit3", true),
        '$' => ("Digit4", true),
        '%' => ("Digit5", true),
        '^' => ("Digit6", true),
        '&' => ("Digit7", true),
        '*' => ("Digit8", true),
        '(' => ("Digit9", true),
        ')' => ("Digit0", true),
        _ => return Err(Error::UnknownKey(format!("{c:?}"))),
    };
    Ok((scancode_for_code(name)?, shift))
}

/// The key presses that type `text`: (scancode, down?) in order, with Shift
/// held around shifted characters.
pub fn text_to_key_events(text: &str) -> Result<Vec<(Scancode, bool)>> {
    let mut out = Vec::new();
    for c in text.chars() {
        let (sc, shift) = scancode_for_char(c)?;
        if shift {
            out.push((SHIFT, true));
        }
        out.push((sc, true));
        out.push((sc, false));
        if shift {
            out.push((SHIFT, false));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(scancode_for_code("KeyA").unwrap().down(), 0x1e);
        assert_eq!(scancode_for_code("KeyA").unwrap().up(), 0x9e);
        assert_eq!(scancode_for_code("KeyM").unwrap().code, 0x32);
        assert_eq!(scancode_for_code("Digit0").unwrap().code, 0x0b);
        assert_eq!(scancode_for_code("F12").unwrap().code, 0x58);
        let up = scancode_for_code("ArrowUp").unwrap();
        assert_eq!((up.down(), up.up()), (0x48e0, 0xc8e0));
        assert!(scancode_for_code("KeyAB").is_err());
        assert!(scancode_for_code("Digit10").is_err());
        assert!(scancode_for_code("Nope").is_err());
    }

    #[test]
    fn text() {
        let ev = text_to_key_events("a$\n").unwrap();
        assert_eq!(ev.len(), 2 + 4 + 2);
        assert_eq!(ev[2], (SHIFT, true));
        assert_eq!(ev[3].0.code, 0x05);
        assert_eq!(ev[6], (ENTER, true));
        assert!(text_to_key_events("é").is_err());
    }
}
