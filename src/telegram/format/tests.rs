//! Tests of reply splitting and Markdown → Telegram HTML / plain text.
use super::*;

/// Tags nest properly and every `<`/`&` outside a tag starts an allowed tag or entity.
fn assert_balanced(html: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('&') {
            let ok = ["amp;", "lt;", "gt;", "quot;"]
                .iter()
                .any(|e| after.starts_with(e));
            assert!(ok, "bare & in {html:?}");
            rest = after;
            continue;
        }
        let end = tail
            .find('>')
            .unwrap_or_else(|| panic!("unterminated tag in {html:?}"));
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "mismatched </{name}> in {html:?}");
        } else {
            let name = tag.split(' ').next().unwrap();
            assert!(
                ["b", "i", "s", "code", "pre", "a"].contains(&name),
                "tag {name} in {html:?}"
            );
            stack.push(name);
        }
        rest = &tail[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?} in {html:?}");
}

fn units(chunks: &[String]) -> Vec<usize> {
    chunks.iter().map(|c| utf16_len(c)).collect()
}

/// Every chunk fits and converts to balanced HTML; the words survive in order.
fn check_split(text: &str, max: usize) -> Vec<String> {
    let chunks = split(text, max);
    for c in &chunks {
        assert!(
            utf16_len(c) <= max,
            "chunk of {} > {max}: {c:?}",
            utf16_len(c)
        );
        assert!(!c.trim().is_empty(), "empty chunk");
        assert_balanced(&to_html(c));
    }
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .filter(|w| !w.starts_with("```"))
            .map(String::from)
            .collect()
    };
    let joined: Vec<String> = chunks.iter().flat_map(|c| words(c)).collect();
    let original = words(text);
    // Hard cuts may split a word in two; compare the concatenation then.
    assert_eq!(joined.concat(), original.concat(), "text lost or reordered");
    chunks
}

#[test]
fn utf16_counting() {
    assert_eq!(utf16_len("abc"), 3);
    assert_eq!(utf16_len("é"), 1);
    assert_eq!(utf16_len("中文"), 2);
    assert_eq!(utf16_len("😀"), 2);
    assert_eq!(utf16_len("👩‍💻"), 5);
    assert_eq!(utf16_len("🇩🇪"), 4);
}

#[test]
fn split_table() {
    let cases: &[(&str, usize, &[&str])] = &[
        ("", 10, &[]),
        ("  \n\n ", 10, &[]),
        ("short", 10, &["short"]),
        ("exactly10!", 10, &["exactly10!"]),
        ("exactly11!!", 10, &["exactly11!", "!"]),
        ("para one\n\npara two", 12, &["para one", "para two"]),
        ("aa\nbb\n\ncc\ndd", 8, &["aa\nbb", "cc\ndd"]),
        (
            "line one\nline two\nline three",
            20,
            &["line one\nline two", "line three"],
        ),
        (
            "First one. Second one here",
            16,
            &["First one.", "Second one here"],
        ),
        ("one two three four", 10, &["one two", "three four"]),
        ("abcdefghijkl", 5, &["abcde", "fghij", "kl"]),
        ("a. b `c d e f` g", 12, &["a. b", "`c d e f` g"]),
        (
            "x [a b c](https://e.com/x) y",
            25,
            &["x", "[a b c](https://e.com/x)", "y"],
        ),
        ("中文句子。第二句话。", 6, &["中文句子。", "第二句话。"]),
        ("😀😀😀", 4, &["😀😀", "😀"]),
        ("😀😀😀", 5, &["😀😀", "😀"]),
        ("e\u{301}e\u{301}", 3, &["e\u{301}", "e\u{301}"]),
        ("🇩🇪🇫🇷", 6, &["🇩🇪", "🇫🇷"]),
        ("👩‍💻👩‍💻", 7, &["👩‍💻", "👩‍💻"]),
        ("ab\r\ncd", 3, &["ab", "cd"]),
    ];
    for (text, max, want) in cases {
        let got = split(text, *max);
        assert_eq!(got, *want, "split({text:?}, {max})");
        assert!(units(&got).iter().all(|u| u <= max), "{text:?}");
    }
}

#[test]
fn split_exact_boundaries() {
    let line = "x".repeat(99);
    let text = format!("{line}\n{line}");
    assert_eq!(split(&text, 199), vec![text.clone()]);
    assert_eq!(split(&text, 198), vec![line.clone(), line.clone()]);
    assert_eq!(split(&text, 100), vec![line.clone(), line.clone()]);
    assert_eq!(split(&text, 99), vec![line.clone(), line.clone()]);
    // Emoji at the boundary: 4096 units hold 2048 emoji, not 2049.
    let emoji = "😀".repeat(2049);
    let chunks = split(&emoji, MAX_MESSAGE_UNITS);
    assert_eq!(units(&chunks), vec![4096, 2]);
    // A surrogate pair never straddles: an odd limit leaves one unit unused.
    assert_eq!(units(&split(&emoji, 4095)), vec![4094, 4]);
}

#[test]
fn split_keeps_code_blocks_whole() {
    let code = "```rust\nfn main() {\n\n    println!(\"hi\");\n}\n```";
    let text = format!("Intro text here.\n\n{code}\n\nOutro.");
    // The block fits in 60 units but not together with the intro: it moves whole.
    let chunks = check_split(&text, 50);
    assert_eq!(chunks, vec!["Intro text here.", code, "Outro."]);
    // With room for the block and what follows, they share a chunk.
    let chunks = check_split(&text, 60);
    assert_eq!(
        chunks,
        vec!["Intro text here.".to_string(), format!("{code}\n\nOutro.")]
    );
    // The blank line inside the block is no break point, even though it is a paragraph.
    let chunks = check_split(&format!("{code}\n\nnext"), 50);
    assert_eq!(chunks[0], code);
    // A fence right after a line (no blank line) still breaks before the fence.
    let chunks = check_split(&format!("look:\n{code}"), 50);
    assert_eq!(chunks, vec!["look:", code]);
}

#[test]
fn split_reopens_long_code_blocks() {
    let body: String = (0..40).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!("Here:\n\n```python\n{body}```\n\nDone.");
    let chunks = check_split(&text, 120);
    assert!(chunks.len() > 4, "{chunks:?}");
    assert_eq!(chunks[0], "Here:");
    let last = chunks.len() - 1;
    for (k, c) in chunks.iter().enumerate().skip(1) {
        assert!(c.starts_with("```python\n"), "{c:?}");
        if k == last {
            assert!(c.ends_with("\n```\n\nDone."), "{c:?}");
            continue;
        }
        assert!(c.ends_with("\n```"), "{c:?}");
        let html = to_html(c);
        assert!(
            html.starts_with("<pre><code class=\"language-python\">"),
            "{html}"
        );
        assert!(html.ends_with("</code></pre>"), "{html}");
        assert!(!html.contains("```"), "{html}");
    }
    // Every body line shows up exactly once, whole.
    let all: String = chunks.concat();
    for i in 0..40 {
        assert_eq!(
            all.matches(&format!("let x{i} = {i};\n")).count(),
            1,
            "line {i}"
        );
    }
}

#[test]
fn split_cuts_a_long_code_line_and_unclosed_fences() {
    let text = format!("```\n{}\n```", "y".repeat(50));
    let chunks = check_split(&text, 20);
    for c in &chunks {
        assert!(c.starts_with("```\n") && c.ends_with("```"), "{c:?}");
    }
    assert_eq!(
        chunks.iter().map(|c| c.matches('y').count()).sum::<usize>(),
        50
    );
    // A fence the model never closed: chunks still close and reopen it.
    let body: String = (0..10).map(|i| format!("line {i}\n")).collect();
    let chunks = check_split(&format!("```sh\n{body}"), 30);
    assert!(chunks.len() > 1);
    assert!(chunks.iter().skip(1).all(|c| c.starts_with("```sh\n")));
    assert!(to_html(chunks.last().unwrap()).starts_with("<pre><code class=\"language-sh\">"));
}

#[test]
fn split_a_20_kb_answer() {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 20_000 {
        n += 1;
        text.push_str(&format!(
            "## Section {n}\n\nThis is **paragraph {n}** with `code {n}`, a [link](https://example.com/{n}) and \
             some 中文 and emoji 😀. It goes on for a while, sentence after sentence.\n\n"
        ));
        if n % 7 == 0 {
            text.push_str("```js\n");
            for k in 0..30 {
                text.push_str(&format!("console.log({k}, \"<&>\");\n"));
            }
            text.push_str("```\n\n");
        }
    }
    let chunks = check_split(&text, MAX_MESSAGE_UNITS);
    assert!(chunks.len() >= 5, "{}", chunks.len());
    for c in &chunks {
        assert_eq!(c.matches("```").count() % 2, 0, "fence split in {c:?}");
        // Paragraph-preferring: no chunk starts mid-sentence.
        assert!(
            c.starts_with("## ") || c.starts_with("This") || c.starts_with("```"),
            "{c:.40}"
        );
    }
    assert_eq!(chunks.concat().matches("Section").count(), n);
}

#[test]
fn split_pathological_inputs_terminate() {
    for text in [
        "*".repeat(9000),
        "`".repeat(9000),
        "[".repeat(9000),
        "_a ".repeat(3000),
    ] {
        check_split(&text, MAX_MESSAGE_UNITS);
    }
    assert_eq!(split("abc", 0), vec!["a", "b", "c"]);
    assert_eq!(split("😀", 1), vec!["😀"]);
}

#[test]
fn html_table() {
    let cases: &[(&str, &str)] = &[
        ("plain", "plain"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("<b>not a tag</b>", "&lt;b&gt;not a tag&lt;/b&gt;"),
        ("**bold**", "<b>bold</b>"),
        ("__bold__", "<b>bold</b>"),
        ("*it* and _it_", "<i>it</i> and <i>it</i>"),
        ("~~gone~~", "<s>gone</s>"),
        ("`a < b`", "<code>a &lt; b</code>"),
        ("`` a ` b ``", "<code>a ` b</code>"),
        ("`**no bold**`", "<code>**no bold**</code>"),
        ("**bold *and it***", "<b>bold <i>and it</i></b>"),
        ("***both***", "<b><i>both</i></b>"),
        ("*it **b** more*", "<i>it <b>b</b> more</i>"),
        ("**a `**` b**", "<b>a <code>**</code> b</b>"),
        (
            "[site](https://e.com/?a=1&b=2)",
            "<a href=\"https://e.com/?a=1&amp;b=2\">site</a>",
        ),
        ("[q](https://e.com/\"q)", "[q](https://e.com/\"q)"),
        (
            "[**bold** link](http://x.org)",
            "<a href=\"http://x.org\"><b>bold</b> link</a>",
        ),
        (
            "[wiki](https://w.org/A_(b))",
            "<a href=\"https://w.org/A_(b)\">wiki</a>",
        ),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("[x](ftp://e.com)", "[x](ftp://e.com)"),
        ("[x](https://)", "[x](https://)"),
        ("[x](https://a b)", "[x](https://a b)"),
        (
            "[[x](https://a)](https://b)",
            "[<a href=\"https://a\">x</a>](https://b)",
        ),
        ("# Title", "<b>Title</b>"),
        ("### *Sub* ###", "<b><i>Sub</i></b>"),
        ("#hashtag", "#hashtag"),
        (
            "snake_case_name and __init__",
            "snake_case_name and <b>init</b>",
        ),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("* list item", "* list item"),
        ("- item *one*", "- item <i>one</i>"),
        ("**unclosed bold", "**unclosed bold"),
        ("*unclosed", "*unclosed"),
        ("`unclosed code", "`unclosed code"),
        ("** spaced **", "** spaced **"),
        ("****", "****"),
        ("**a **b** c**", "<b>a **b</b> c**"),
        ("[unclosed](https://e.com", "[unclosed](https://e.com"),
        ("line1\n\nline2", "line1\n\nline2"),
        (
            "```\n<tag> & \"q\"\n```",
            "<pre>&lt;tag&gt; &amp; \"q\"</pre>",
        ),
        (
            "```py extra\nprint(1)\n```",
            "<pre><code class=\"language-py\">print(1)</code></pre>",
        ),
        (
            "```c\"><script>\nx\n```",
            "<pre><code class=\"language-cscript\">x</code></pre>",
        ),
        (
            "before\n```rust\nlet a = 1;\n\nlet b = **2**;\n```\nafter **b**",
            "before\n<pre><code class=\"language-rust\">let a = 1;\n\nlet b = **2**;</code></pre>\nafter <b>b</b>",
        ),
        (
            "```sh\necho unclosed",
            "<pre><code class=\"language-sh\">echo unclosed</code></pre>",
        ),
        ("````\n```\ninner\n```\n````", "<pre>```\ninner\n```</pre>"),
        ("``not a fence``", "<code>not a fence</code>"),
    ];
    for (md, want) in cases {
        let html = to_html(md);
        assert_eq!(html, *want, "to_html({md:?})");
        assert_balanced(&html);
    }
}

#[test]
fn html_is_balanced_for_garbage() {
    let pieces = [
        "*",
        "**",
        "_",
        "__",
        "~~",
        "`",
        "```",
        "[",
        "]",
        "(",
        ")",
        "https://x.y",
        "a",
        " ",
        "\n",
        "<",
        "&",
        "#",
    ];
    // A deterministic walk over combinations of markup fragments.
    let mut seed = 12345u32;
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..12 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            s.push_str(pieces[(seed >> 16) as usize % pieces.len()]);
        }
        assert_balanced(&to_html(&s));
        for c in split(&s, 7) {
            assert_balanced(&to_html(&c));
        }
    }
}

#[test]
fn plain_table() {
    let cases: &[(&str, &str)] = &[
        ("**bold** and *it* and `code`", "bold and it and code"),
        (
            "see [docs](https://d.io) or https://d.io",
            "see docs (https://d.io) or https://d.io",
        ),
        ("[https://d.io](https://d.io)", "https://d.io"),
        ("# Head\ntext <b> & stuff", "Head\ntext <b> & stuff"),
        ("```js\nlet a = 1;\n```\nafter", "let a = 1;\nafter"),
        ("**unbalanced", "**unbalanced"),
        ("~~x~~", "x"),
    ];
    for (md, want) in cases {
        assert_eq!(plain(md), *want, "plain({md:?})");
    }
}
