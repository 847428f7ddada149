//! Logging through tracing: human text by default, JSON lines with `log.format: json`.
//! Logs go to stderr so that command output on stdout stays machine-readable.
//!
//! One event is one line, whatever it carries: in text logs every control character
//! inside a line (a newline in a user's field, a terminal escape) is written escaped
//! (`\n`, `\u{1b}`), so input can neither forge log lines nor drive a terminal. JSON
//! logs are escaped by JSON itself.

use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
/// Chatty dependencies are kept at `warn` unless `RUST_LOG` says otherwise.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},actix_server=warn,actix_web=warn,r2d2=warn,h2=warn,hyper=warn,rustls=warn,reqwest=warn",
            level = log.level
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .with_writer(|| EscapingWriter(std::io::stderr()))
            .try_init(),
    };
    // A second init (tests, re-entry) keeps the first subscriber.
    let _ = result;
    install_panic_hook();
}

/// Panics (a handler's, caught by its worker's supervisor) are logged through
/// tracing, so they land in the same stream and format as everything else.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::workers::panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            panic = %message,
            %location,
            thread = thread.name().unwrap_or("unnamed"),
            "panic"
        );
    }));
}

/// Writes each formatted event with its control characters escaped, but for the
/// newline that ends it. The formatter hands over one whole event per write.
struct EscapingWriter<W: std::io::Write>(W);

impl<W: std::io::Write> std::io::Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(escape_line(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `line` with every control character escaped, but for one final newline.
fn escape_line(line: &[u8]) -> String {
    let (body, newline) = match line.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (line, false),
    };
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if newline {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn a_line_cannot_be_forged_or_drive_a_terminal() {
        assert_eq!(escape_line(b"plain line\n"), "plain line\n");
        assert_eq!(
            escape_line(b"zone=a\nINFO forged\n"),
            "zone=a\\nINFO forged\n"
        );
        assert_eq!(
            escape_line("\u{1b}[31mred\u{9b}\r\n".as_bytes()),
            "\\u{1b}[31mred\\u{9b}\\r\n"
        );
    }
}
