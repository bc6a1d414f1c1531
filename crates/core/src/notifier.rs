//! Owner notifications behind the [`Notifier`] trait (ARCHITECTURE.md section 5), and the limits every
//! notification must fit: SNS rejects a subject of 100 characters or more, or one with a line break.
//!
//! The SNS adapter lives in [`crate::aws::sns`].

/// One notification, already rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The e-mail subject: plain text; [`fit_subject`] is applied before sending.
    pub subject: String,
    /// The plain-text body a person reads on a phone. Never logged: it may carry details of the gateway.
    pub message: String,
    /// The gateway id (message attribute `gateway`).
    pub gateway: String,
    /// What happened, e.g. `gateway_down` (message attribute `kind`).
    pub kind: String,
    /// `info`, `warning` or `critical` (message attribute `severity`).
    pub severity: String,
}

/// Longest subject SNS accepts, in characters ("less than 100").
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Longest message sent, in bytes: SNS takes 256 KiB for the body and the attributes together; the
/// rest is left for the attributes.
pub const MAX_MESSAGE_BYTES: usize = 250 * 1024;

/// Marks a cut subject. ASCII: SNS's older documentation asks for ASCII subjects.
const ELLIPSIS: &str = "...";

/// The subject as SNS accepts it: line breaks and other control characters become spaces, runs of
/// whitespace collapse, and a subject that is still too long is cut with an ellipsis.
pub fn fit_subject(subject: &str) -> String {
    let flat = subject
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() <= MAX_SUBJECT_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_SUBJECT_CHARS - ELLIPSIS.len()).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str(ELLIPSIS);
    cut
}

/// The message cut to [`MAX_MESSAGE_BYTES`] at a character boundary, with a note that it was cut.
pub fn fit_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    const NOTE: &str = "\n\n[message truncated]";
    let mut end = MAX_MESSAGE_BYTES - NOTE.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_subjects_pass_unchanged() {
        assert_eq!(fit_subject("home is down"), "home is down");
    }

    #[test]
    fn line_breaks_and_runs_of_spaces_become_one_space() {
        assert_eq!(fit_subject(" home\r\nis \t down\u{7}\n"), "home is down");
    }

    #[test]
    fn long_subjects_are_cut_with_an_ellipsis() {
        let long = "é".repeat(150);
        let fitted = fit_subject(&long);
        assert_eq!(fitted.chars().count(), MAX_SUBJECT_CHARS);
        assert!(fitted.ends_with("..."));
        let exact = "x".repeat(MAX_SUBJECT_CHARS);
        assert_eq!(fit_subject(&exact), exact);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let fitted = fit_message(&long);
        assert!(fitted.len() <= MAX_MESSAGE_BYTES);
        assert!(fitted.ends_with("[message truncated]"));
        assert_eq!(fit_message("short"), "short");
    }
}
