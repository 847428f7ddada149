//! YAML to JSON with line numbers: yaml-rust2's event parser builds a
//! `serde_json::Value` (so the policy types are read by serde) and notes the line at
//! which each item of a top-level sequence starts, so an error can name it.
//! Aliases are refused (a policy file has no use for them, and they are how a small
//! file expands into a huge one).

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A parsed document and, for the sequence under each top-level key, the lines at
/// which its items start.
#[derive(Debug)]
pub struct Marked {
    pub value: Value,
    pub item_lines: std::collections::HashMap<String, Vec<usize>>,
}

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 32;

enum Frame {
    Seq(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    done: Option<Value>,
    error: Option<(usize, String)>,
    item_lines: std::collections::HashMap<String, Vec<usize>>,
}

impl Builder {
    fn fail(&mut self, line: usize, message: &str) {
        if self.error.is_none() {
            self.error = Some((line, message.to_string()));
        }
    }

    /// The top-level key whose sequence is open right now, when the parser is directly
    /// inside it.
    fn top_sequence_key(&self) -> Option<String> {
        match self.stack.as_slice() {
            [Frame::Map(_, Some(key)), Frame::Seq(_)] => Some(key.clone()),
            _ => None,
        }
    }

    fn push(&mut self, value: Value, line: usize) {
        let problem = match self.stack.last_mut() {
            None => {
                self.done = Some(value);
                None
            }
            Some(Frame::Seq(items)) => {
                items.push(value);
                None
            }
            Some(Frame::Map(map, key)) => match key.take() {
                None => {
                    *key = match value {
                        Value::String(k) => Some(k),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    };
                    key.is_none()
                        .then(|| "a mapping key must be a plain value".to_string())
                }
                Some(k) => {
                    let twice = map.contains_key(&k).then(|| format!("`{k}` appears twice"));
                    map.insert(k, value);
                    twice
                }
            },
        };
        if let Some(problem) = problem {
            self.fail(line, &problem);
        }
    }

    fn open(&mut self, frame: Frame, line: usize) {
        if let Some(key) = self.top_sequence_key() {
            self.item_lines.entry(key).or_default().push(line);
        }
        if self.stack.len() >= MAX_DEPTH {
            self.fail(line, "nested too deep");
        }
        self.stack.push(frame);
    }
}

fn scalar(text: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        t => t
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::String(text)),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, _, _) => {
                if let Some(key) = self.top_sequence_key() {
                    self.item_lines.entry(key).or_default().push(line);
                }
                self.push(scalar(text, style), line);
            }
            Event::SequenceStart(..) => self.open(Frame::Seq(Vec::new()), line),
            Event::MappingStart(..) => self.open(Frame::Map(Map::new(), None), line),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items)) = self.stack.pop() {
                    self.push(Value::Array(items), line);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(map, _)) = self.stack.pop() {
                    self.push(Value::Object(map), line);
                }
            }
            Event::Alias(_) => self.fail(line, "aliases (`*name`) are not accepted"),
            Event::DocumentStart if self.done.is_some() => {
                self.fail(line, "one YAML document per file")
            }
            _ => {}
        }
    }
}

/// Parses one YAML document; an error names its line.
pub fn parse(text: &str) -> Result<Marked, (usize, String)> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, true)
        .map_err(|e| (e.marker().line(), e.info().to_string()))?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(Marked {
        value: builder.done.unwrap_or(Value::Null),
        item_lines: builder.item_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_item_lines() {
        let text = "policies:\n  - name: a\n    n: 3\n  - name: b\n    on: true\n    q: 'true'\n";
        let m = parse(text).expect("parsed");
        assert_eq!(m.value["policies"][0]["name"], "a");
        assert_eq!(m.value["policies"][0]["n"], 3);
        assert_eq!(m.value["policies"][1]["on"], true);
        assert_eq!(m.value["policies"][1]["q"], "true");
        assert_eq!(m.item_lines["policies"], vec![2, 4]);
    }

    #[test]
    fn errors_name_their_line() {
        let (line, _) = parse("policies:\n  - name: a\n   bad: [\n").expect_err("bad");
        assert!(line >= 3, "{line}");
        let (line, why) = parse("a: 1\na: 2\n").expect_err("twice");
        assert_eq!(line, 2);
        assert!(why.contains("twice"), "{why}");
        let (_, why) = parse("x: &a [1]\ny: *a\n").expect_err("alias");
        assert!(why.contains("alias"), "{why}");
    }
}
