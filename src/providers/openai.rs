//! OpenAI chat completions: request bodies, JSON answers and server-sent-event streams.
//!
//! Pure functions over bytes and JSON (no I/O), so every provider quirk handled here is tested
//! below: `: comment` keep-alive lines, `\r\n` endings, `data:` without a space, multi-line
//! `data`, `[DONE]`, an `error` object inside a 200 stream, usage in a last chunk with empty
//! `choices`, tool-call arguments split across chunks (or sent whole, or as an object), a tool
//! call ending with `finish_reason: "stop"`, `reasoning_content` deltas (not part of the text),
//! and `content` given as an array of text parts.

use serde_json::{Map, Value, json};

use super::{Completion, ProviderError, Request, ToolCall, Usage};
use crate::config::providers::ProviderConfig;

/// Most tool calls kept from one answer.
pub const MAX_TOOL_CALLS: usize = 16;

/// The JSON body of a request.
pub fn body(p: &ProviderConfig, req: &Request) -> Value {
    let mut m = Map::new();
    for (k, v) in &p.defaults {
        m.insert(k.clone(), v.clone());
    }
    m.insert("model".into(), Value::from(req.model.clone()));
    m.insert("messages".into(), Value::Array(req.messages.clone()));
    if let Some(n) = req.max_tokens
        && !m.contains_key("max_tokens")
        && !m.contains_key("max_completion_tokens")
    {
        m.insert("max_tokens".into(), Value::from(n));
    }
    if !req.tools.is_empty() {
        m.insert("tools".into(), Value::Array(req.tools.clone()));
    }
    if p.stream {
        m.insert("stream".into(), Value::Bool(true));
        if p.stream_usage {
            m.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Value::Object(m)
}

/// One server-sent event's meaning.
#[derive(Debug, PartialEq)]
pub enum Sse {
    /// A `data:` payload.
    Data(String),
    /// `data: [DONE]`.
    Done,
}

/// Incremental SSE parser with a bounded line (and event) buffer.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    max_line: usize,
}

impl SseParser {
    /// A parser that refuses lines (and events) longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            max_line,
        }
    }

    /// Feeds bytes; calls `out` for every complete event.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut dyn FnMut(Sse) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.push(&rest[..i])?;
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.push(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// Flushes a last event not followed by a blank line (some servers end that way).
    pub fn finish(
        &mut self,
        out: &mut dyn FnMut(Sse) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
        }
        self.dispatch(out)
    }

    fn push(&mut self, b: &[u8]) -> Result<(), ProviderError> {
        if self.line.len() + b.len() > self.max_line {
            return Err(ProviderError::Malformed(format!(
                "stream line longer than {} bytes",
                self.max_line
            )));
        }
        self.line.extend_from_slice(b);
        Ok(())
    }

    fn line_done(
        &mut self,
        raw: &[u8],
        out: &mut dyn FnMut(Sse) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            return self.dispatch(out);
        }
        if raw[0] == b':' {
            return Ok(());
        }
        let line = std::str::from_utf8(raw)
            .map_err(|_| ProviderError::Malformed("stream line is not UTF-8".into()))?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            if self.data.len() + value.len() + 1 > self.max_line {
                return Err(ProviderError::Malformed(format!(
                    "stream event longer than {} bytes",
                    self.max_line
                )));
            }
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        Ok(())
    }

    fn dispatch(
        &mut self,
        out: &mut dyn FnMut(Sse) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        if !self.has_data {
            return Ok(());
        }
        self.has_data = false;
        let data = std::mem::take(&mut self.data);
        if data.trim() == "[DONE]" {
            out(Sse::Done)
        } else {
            out(Sse::Data(data))
        }
    }
}

/// Accumulates stream chunks into a `Completion`.
#[derive(Debug, Default)]
pub struct StreamState {
    /// What has arrived so far.
    pub done: Completion,
    calls: Vec<(u64, ToolCall)>,
    /// Whether `[DONE]` or a `finish_reason` arrived.
    pub finished: bool,
    /// Whether `[DONE]` arrived.
    pub saw_done: bool,
}

impl StreamState {
    /// Applies one `data:` payload; returns the new text, if any.
    pub fn apply(&mut self, data: &str) -> Result<Option<String>, ProviderError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("stream chunk is not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(ProviderError::Upstream(error_message(err)));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.done.usage = Some(usage_of(u));
        }
        let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(None);
        };
        if let Some(fr) = choice.get("finish_reason").and_then(Value::as_str) {
            self.done.finish_reason = Some(fr.to_string());
            self.finished = true;
        }
        let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) else {
            return Ok(None);
        };
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (pos, c) in calls.iter().enumerate() {
                self.tool_delta(pos as u64, c)?;
            }
        }
        let text = content_text(delta.get("content"));
        if text.is_empty() {
            return Ok(None);
        }
        self.done.text.push_str(&text);
        Ok(Some(text))
    }

    fn tool_delta(&mut self, pos: u64, c: &Value) -> Result<(), ProviderError> {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos);
        let f = c.get("function");
        let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
        let args = match f.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let id = c.get("id").and_then(Value::as_str);
        match self.calls.iter_mut().find(|(i, _)| *i == index) {
            Some((_, call)) => {
                if let Some(id) = id.filter(|s| !s.is_empty())
                    && call.id.is_empty()
                {
                    call.id = id.to_string();
                }
                if let Some(n) = name
                    && call.name != n
                {
                    call.name.push_str(n);
                }
                call.arguments.push_str(&args);
            }
            None => {
                if self.calls.len() >= MAX_TOOL_CALLS {
                    return Err(ProviderError::Malformed(format!(
                        "more than {MAX_TOOL_CALLS} tool calls in one answer"
                    )));
                }
                self.calls.push((
                    index,
                    ToolCall {
                        id: id.unwrap_or_default().to_string(),
                        name: name.unwrap_or_default().to_string(),
                        arguments: args,
                    },
                ));
            }
        }
        Ok(())
    }

    /// The finished answer (tool calls in index order, missing ids filled in).
    pub fn finish(mut self) -> Completion {
        self.calls.sort_by_key(|(i, _)| *i);
        let mut n = 0;
        for (_, mut c) in self.calls {
            n += 1;
            if c.id.is_empty() {
                c.id = format!("call_{n}");
            }
            if c.arguments.trim().is_empty() {
                c.arguments = "{}".into();
            }
            self.done.tool_calls.push(c);
        }
        self.done.streamed = true;
        self.done
    }
}

/// Parses a whole (non-stream) answer.
pub fn parse_json(body: &[u8]) -> Result<Completion, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Malformed(format!("answer is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(ProviderError::Upstream(error_message(err)));
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| ProviderError::Malformed("answer has no choices".into()))?;
    let mut st = StreamState::default();
    st.apply(&json!({"choices": [choice], "usage": v.get("usage")}).to_string())?;
    let mut c = st.finish();
    c.streamed = false;
    Ok(c)
}

/// The body of an OpenAI `/embeddings` request (floats, the API's default encoding).
pub fn embeddings_body(model: &str, input: &[String]) -> Value {
    json!({"model": model, "input": input})
}

#[derive(serde::Deserialize)]
struct EmbeddingItem {
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Parses an `/embeddings` answer (`{data:[{index, embedding:[f32]}]}`) into one vector per
/// input, in input order; every vector must have the same 1..=`max_dims` dimensions.
pub fn parse_embeddings(
    body: &[u8],
    inputs: usize,
    max_dims: usize,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Malformed(format!("answer is not JSON: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(ProviderError::Upstream(error_message(err)));
    }
    let data = v
        .get("data")
        .cloned()
        .ok_or_else(|| ProviderError::Malformed("embeddings answer has no data".into()))?;
    let items: Vec<EmbeddingItem> = serde_json::from_value(data)
        .map_err(|e| ProviderError::Malformed(format!("embeddings answer: {e}")))?;
    if items.len() != inputs {
        return Err(ProviderError::Malformed(format!(
            "{} embeddings for {inputs} inputs",
            items.len()
        )));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; inputs];
    for (i, item) in items.into_iter().enumerate() {
        let at = item.index.unwrap_or(i);
        let dims = item.embedding.len();
        if dims == 0 || dims > max_dims || item.embedding.iter().any(|x| !x.is_finite()) {
            return Err(ProviderError::Malformed(format!(
                "embedding {at} has {dims} dimensions or a non-finite value (expected 1..={max_dims})"
            )));
        }
        match out.get_mut(at) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => {
                return Err(ProviderError::Malformed(format!(
                    "embedding index {at} is out of range or repeated"
                )));
            }
        }
    }
    let out: Vec<Vec<f32>> = out.into_iter().flatten().collect();
    if out.iter().any(|e| e.len() != out[0].len()) {
        return Err(ProviderError::Malformed(
            "embeddings of one answer differ in dimensions".into(),
        ));
    }
    Ok(out)
}

/// `(message, code)` of an error body (`{"error":{"message","code"}}`, or a bare string).
pub fn error_body(body: &[u8]) -> (String, Option<String>) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let e = v.get("error").unwrap_or(&v);
            let code = e
                .get("code")
                .and_then(|c| match c {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .or_else(|| e.get("type").and_then(Value::as_str).map(str::to_string));
            (error_message(e), code)
        }
        Err(_) => (cut(&String::from_utf8_lossy(body), 200), None),
    }
}

fn error_message(e: &Value) -> String {
    let m = match e {
        Value::String(s) => s.clone(),
        _ => e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
    };
    cut(&m, 300)
}

fn cut(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("prompt_tokens"),
        output: n("completion_tokens"),
        cache_read: u
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// Text of a `content` field: a string, or the text parts of an array.
pub fn content_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// `Retry-After` (seconds, possibly fractional) or `retry-after-ms`, in ms.
pub fn retry_after(seconds: Option<&str>, millis: Option<&str>) -> Option<u64> {
    if let Some(ms) = millis.and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(ms as u64);
    }
    let s = seconds?.trim().parse::<f64>().ok()?;
    (s.is_finite() && s >= 0.0).then_some((s * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[&[u8]], max: usize) -> Result<Vec<Sse>, ProviderError> {
        let mut p = SseParser::new(max);
        let mut out = Vec::new();
        for chunk in input {
            p.feed(chunk, &mut |e| {
                out.push(e);
                Ok(())
            })?;
        }
        p.finish(&mut |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn sse_handles_comments_crlf_split_chunks_and_done() {
        let ev = events(
            &[
                b": keep-alive\r\n\r\ndata: {\"a\"",
                b":1}\r\n\r\ndata:{\"b\":2}\n\n",
                b"data: [DONE]\n\n",
            ],
            1024,
        )
        .unwrap();
        assert_eq!(
            ev,
            vec![
                Sse::Data("{\"a\":1}".into()),
                Sse::Data("{\"b\":2}".into()),
                Sse::Done
            ]
        );
        let ev = events(
            &[b"data: a\ndata: b\n\n", b"data: tail-without-blank"],
            1024,
        )
        .unwrap();
        assert_eq!(
            ev,
            vec![
                Sse::Data("a\nb".into()),
                Sse::Data("tail-without-blank".into())
            ]
        );
    }

    #[test]
    fn sse_line_buffer_is_bounded() {
        let big = vec![b'x'; 5000];
        let err = events(&[b"data: ", &big], 1024).unwrap_err();
        assert!(matches!(err, ProviderError::Malformed(_)), "{err}");
    }

    #[test]
    fn stream_state_accumulates_text_tools_and_usage() {
        let mut st = StreamState::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a.txt\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"name":"time","arguments":{}}}]},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
        ];
        let mut text = String::new();
        for c in chunks {
            if let Some(t) = st.apply(c).unwrap() {
                text.push_str(&t);
            }
        }
        assert_eq!(text, "Hello");
        let done = st.finish();
        assert_eq!(done.text, "Hello");
        assert_eq!(
            done.usage,
            Some(Usage {
                input: 7,
                output: 3,
                cache_read: 0
            })
        );
        assert_eq!(done.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            done.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "read".into(),
                    arguments: "{\"path\":\"a.txt\"}".into()
                },
                ToolCall {
                    id: "call_2".into(),
                    name: "time".into(),
                    arguments: "{}".into()
                },
            ]
        );
    }

    #[test]
    fn errors_inside_streams_and_bodies() {
        let mut st = StreamState::default();
        let e = st
            .apply(r#"{"error":{"message":"overloaded","code":502}}"#)
            .unwrap_err();
        assert_eq!(e, ProviderError::Upstream("overloaded".into()));
        assert!(matches!(
            st.apply("{not json"),
            Err(ProviderError::Malformed(_))
        ));
        assert_eq!(
            error_body(br#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#),
            ("This model's maximum context length is 8192 tokens".into(), Some("context_length_exceeded".into()))
        );
        assert_eq!(
            error_body(b"<html>bad gateway</html>").0,
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn whole_answers_parse() {
        let c = parse_json(br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"hi"}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
        assert_eq!((c.text.as_str(), c.streamed), ("hi", false));
        assert!(matches!(
            parse_json(b"{\"choices\": ["),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            parse_json(b"{\"choices\": []}"),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after(Some("2"), None), Some(2000));
        assert_eq!(retry_after(Some("0.5"), None), Some(500));
        assert_eq!(retry_after(Some("2"), Some("150")), Some(150));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
            None
        );
    }

    #[test]
    fn body_merges_defaults_and_stream_options() {
        let mut p = ProviderConfig {
            id: "t".into(),
            api: crate::config::providers::API_OPENAI_COMPLETIONS,
            base_url: "http://127.0.0.1:9/v1".into(),
            url: "http://127.0.0.1:9/v1/chat/completions".into(),
            api_key: None,
            key_source: "none".into(),
            auth_header: "Authorization".into(),
            auth_prefix: "Bearer ".into(),
            headers: vec![],
            defaults: Map::new(),
            stream: true,
            stream_usage: true,
            allow_unauthenticated: true,
            local: true,
            models: vec![],
        };
        p.defaults.insert("temperature".into(), json!(0.5));
        let req = Request {
            model: "m".into(),
            messages: vec![json!({"role":"user","content":"hi"})],
            tools: vec![],
            max_tokens: Some(64),
        };
        let b = body(&p, &req);
        assert_eq!(b["stream"], json!(true));
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(b["max_tokens"], json!(64));
        assert_eq!(b["temperature"], json!(0.5));
        assert!(b.get("tools").is_none());
    }
}
