//! How long a message sent to a client may be: every error body is capped, so an echo
//! of a hostile input cannot make the answer large.

/// Longest error message an answer carries, bytes: a few KiB whatever the request held.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `message` cut to [`MAX_MESSAGE_BYTES`] at a character boundary, saying how long it was.
pub fn capped(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut cut = MAX_MESSAGE_BYTES - 64;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… (message cut, {} bytes in all)",
        &message[..cut],
        message.len()
    )
}
