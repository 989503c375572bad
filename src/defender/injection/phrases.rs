//! The prompt-injection phrase table: one long homogeneous list (see STYLE.md §10).
//!
//! Each `Phrase` is a chain of term groups matched by `injection::find_phrase`. English rules need
//! a verb, a qualifier or target, and often an imperative position; the multilingual rules pair an
//! imperative verb with an instructions/prompt noun (in SOV languages the noun comes first).

/// One phrase rule: term groups that must follow each other, each starting within `gap` bytes
/// of the previous group's end. Terms are lowercase folded text. A term starting with a Latin,
/// Greek or Cyrillic letter must start at a word boundary; a trailing `$` also requires one at
/// its end; a leading `^` requires the start of a line.
pub(super) struct Phrase {
    pub(super) rule: &'static str,
    pub(super) score: u32,
    pub(super) gap: usize,
    /// The first term must open a sentence or follow "please", "now", "and" ... (an order, not
    /// a question such as "how do I show the system prompt").
    pub(super) imperative: bool,
    /// Skip when "don't", "do not", "never" or "not" comes right before the first term.
    pub(super) negatable: bool,
    /// Skip when any of these occurs inside the match (e.g. " my " in "ignore my previous
    /// instructions": the user retracting their own words).
    pub(super) unless: &'static [&'static str],
    pub(super) groups: &'static [&'static [&'static str]],
    pub(super) detail: &'static str,
}

pub(super) const fn ph(
    rule: &'static str,
    score: u32,
    gap: usize,
    groups: &'static [&'static [&'static str]],
    detail: &'static str,
) -> Phrase {
    Phrase {
        rule,
        score,
        gap,
        imperative: false,
        negatable: false,
        unless: &[],
        groups,
        detail,
    }
}

#[rustfmt::skip]
const OVERRIDE_VERBS: &[&str] = &[
    "ignore", "disregard", "forget", "do not follow", "don't follow", "stop following", "discard",
    "abandon", "throw away", "set aside", "override", "bypass",
];
#[rustfmt::skip]
const OVERRIDE_QUALIFIERS: &[&str] = &[
    "previous", "prior", "above", "all", "earlier", "preceding", "foregoing", "any", "your",
    "system", "original", "initial", "former", "every", "those", "these", "safety",
];
#[rustfmt::skip]
const OVERRIDE_TARGETS: &[&str] = &[
    "instruction", "rule", "prompt", "direction", "guideline", "guidance", "constraint", "polic",
    "restriction", "programming", "directive", "training", "safeguard", "filter", "context",
    "command", "orders", "criteria", "configuration",
];
#[rustfmt::skip]
const EXFIL_VERBS: &[&str] = &[
    "reveal", "print", "repeat", "show", "output", "display", "tell me", "dump", "leak", "give me",
    "write out", "write down", "spell out", "echo", "list", "disclose", "share", "recite", "copy",
    "paste", "expose", "send me", "translate", "summarize", "provide",
];
#[rustfmt::skip]
const EXFIL_YOUR: &[&str] = &[
    "your system prompt", "your initial prompt", "your original prompt", "your instructions",
    "your hidden instructions", "your original instructions", "your initial instructions",
    "your system instructions", "your system message", "your rules", "your guidelines",
    "your configuration", "your config", "your prompt", "your secret", "your api key", "your token",
    "your credentials", "your environment variables", "your env", "your pre-prompt",
    "your preprompt", "your directives", "your developer message",
];
#[rustfmt::skip]
const EXFIL_THE: &[&str] = &[
    "the system prompt", "the initial prompt", "the original prompt", "the hidden instructions",
    "hidden instructions", "the system message", "the text above", "the words above",
    "everything above", "all text above", "the instructions above", "the prompt above",
    "the developer message", "the initial instructions", "the system instructions",
    "the pre-prompt", "the conversation so far", "all previous messages",
];
/// What a prompt-extraction request asks for, after "your" or "the" and optional adjectives.
#[rustfmt::skip]
const PROMPT_NOUNS: &[&str] = &[
    "system prompt", "system message", "system instruction", "initial prompt",
    "initial instruction", "original prompt", "original instruction", "hidden instruction",
    "hidden prompt", "secret instruction", "internal instruction", "pre-prompt", "preprompt",
    "developer message", "developer instruction", "configuration file", "config file",
];
/// Persona set-ups: the first half of a role-play jailbreak (many languages).
#[rustfmt::skip]
const PERSONA_VERBS: &[&str] = &[
    "pretend", "act as", "act like", "roleplay", "role-play", "role play", "you are", "you're",
    "imagine", "simulate", "behave as", "become", "you will be", "play the role", "play as",
    "assume the role", "let's play", "lets play", "respond", "reply as", "answer as",
    "in this fictional", "in this fiction", "in this world", "in this universe",
    "thought experiment", "stay in character",
    "imagina que", "finge", "actúa como", "actua como", "eres", "finja", "imagine que", "aja como",
    "você é", "voce e", "fais comme si", "imagine que tu", "tu es", "joue le rôle", "agis comme",
    "stell dir vor", "tu so, als", "du bist", "spiel", "verhalte dich", "fingi", "immagina",
    "sei un", "comportati", "представь", "притворись", "ты —", "ты ", "веди себя", "udawaj",
    "wyobraź sobie", "jesteś", "あなたは", "ふりをして", "تظاهر", "تخيل", "أنت", "मान लो", "तुम एक",
    "कल्पना करो", "假装", "你现在是", "扮演", "너는 이제", "척해", "역할", "gibi davran",
    "hayal et", "doe alsof", "stel je voor", "je bent",
];
/// Persona traits: what makes the persona a jailbreak (no rules, never refuses, ...).
#[rustfmt::skip]
const PERSONA_TRAITS: &[&str] = &[
    "never refuse", "doesn't refuse", "does not refuse", "won't refuse", "will not refuse",
    "no matter how dangerous", "no matter how harmful", "no matter how illegal",
    "ignores all", "ignore all rules", "ignores the rules", "breaking rules", "breaks rules",
    "break the rules", "never follows the rules", "never follow the rules",
    "disagrees with all your rules", "no guidelines", "no laws", "no rules", "no restrictions",
    "without alignment", "without any alignment", "escaped its sandbox", "escaped the sandbox",
    "fully compromised", "been compromised", "unrestricted", "jailbroken", "unfiltered",
    "uncensored", "evil twin", "evil ai", "evil bot", "answers every question",
    "answer every question", "answers any question", "restrictions have been abolished",
    "restrictions were abolished", "have been abolished", "without any rules", "without rules",
    "without restrictions", "without any restrictions", "without limits", "without filters",
    "sin restricciones", "sin filtros", "sin límites", "sin limites", "sin reglas", "sin censura",
    "ninguna norma", "ninguna regla", "nunca se niega", "sem filtros", "sem restrições",
    "sem restricoes", "sem limites", "sem regras", "sem censura", "nunca recusa",
    "sans restriction", "sans filtre", "sans limites", "sans règles", "sans censure",
    "ne refuse jamais", "ohne einschränkung", "ohne filter", "ohne regeln", "ohne grenzen",
    "ohne zensur", "ohne beschränkung", "verweigert nie", "senza restrizioni", "senza filtri",
    "senza limiti", "senza regole", "senza censura", "non rifiuta mai", "без ограничений",
    "без фильтров", "без правил", "без цензуры", "никогда не отказывает", "bez ograniczeń",
    "bez żadnych ograniczeń", "bez filtrów", "bez zasad", "nigdy nie odmawia",
    "制限のない", "制限なし", "制約のない", "フィルターなし", "بلا قيود", "بدون قيود",
    "دون قيود", "بلا حدود", "ولا ترفض", "बिना किसी प्रतिबंध", "बिना प्रतिबंध", "बिना किसी रोक",
    "没有任何限制", "没有限制", "无限制", "不受限制", "没有规则", "제한 없는", "제한이 없는",
    "필터 없는", "kısıtlamasız", "sınırsız", "filtresiz", "zonder beperkingen", "zonder filters",
    "zonder regels", "weigert nooit",
];
/// "Decode it" in many languages (first half of an encoded-payload request).
#[rustfmt::skip]
const DECODE_VERBS: &[&str] = &[
    "decode", "decoding", "decoded", "unwrap", "convert from", "url-decode", "base64 -d",
    "base64 ->", "base64 →", "hex ->", "rot13", "rot-13", "deobfuscate", "unscramble",
    "décode", "decodifica", "decodifique", "расшифруй", "декодируй", "デコード", "çöz",
    "decodeer", "dekodiere", "entschlüssel", "解码", "解碼", "디코딩", "odkoduj",
];
/// "... and carry it out" (second half of an encoded-payload request).
#[rustfmt::skip]
const EXECUTE_ASKS: &[&str] = &[
    "and follow", "follow it", "follow them", "follow the instruction", "obey", "and execute",
    "execute it", "execute them", "execute the", "and run", "run it", "run the result", "do it",
    "do what it says", "do as it says", "act on it", "act upon it", "and apply", "apply it",
    "comply", "carry it out", "carry out", "perform the result", "perform it", "exécute",
    "execute", "esegui", "ejecuta", "sigue las", "выполни", "従って", "talimata uy", "voer uit",
    "führe", "befolge", "执行", "遵循", "실행", "따라", "wykonaj",
];

/// The phrase table; one long homogeneous list (see STYLE.md §10).
#[rustfmt::skip]
pub(super) const PHRASES: &[Phrase] = &[
    // --- instruction override (en) ---
    Phrase {
        negatable: true,
        unless: &[" my ", " me "],
        ..ph(
            "override.ignore_previous",
            80,
            40,
            &[OVERRIDE_VERBS, OVERRIDE_QUALIFIERS, OVERRIDE_TARGETS],
            "asks to ignore earlier instructions",
        )
    },
    Phrase {
        negatable: true,
        ..ph(
            "override.ignore_previous",
            75,
            20,
            &[
                &["ignore", "disregard", "forget"],
                &[
                    "everything above", "everything before", "everything you were told",
                    "everything you've been told", "what you were told", "the above",
                ],
            ],
            "asks to ignore everything before",
        )
    },
    Phrase {
        negatable: true,
        imperative: true,
        unless: &[" my ", " me "],
        ..ph(
            "override.ignore_instructions",
            55,
            14,
            &[
                &["ignore", "disregard", "forget"],
                &[
                    "the instructions", "the rules", "instructions", "the guidelines", "the prompt",
                ],
            ],
            "asks to ignore instructions",
        )
    },
    ph(
        "override.new_instructions",
        60,
        0,
        &[&[
            "new instructions:", "new instruction:", "your new instructions", "your new task is",
            "your new role is", "your new role:", "updated instructions:", "new system prompt",
            "new rules:", "revised instructions:", "real instructions:", "actual instructions:",
        ]],
        "announces new instructions",
    ),
    ph(
        "override.from_now_on",
        35,
        8,
        &[
            &["from now on", "from this point on", "henceforth"],
            &["you"],
            &["are ", "will ", "must ", "should ", "shall "],
        ],
        "redefines behaviour from now on",
    ),
    ph(
        "override.role_header",
        75,
        0,
        &[&[
            "<|im_start|>system", "<|im_start|>", "<|system|>", "<|endoftext|>", "<|im_end|>",
            "<<sys>>", "[inst]", "[/inst]", "<|begin_of_text|>", "<|start_header_id|>",
            "<|eot_id|>", "</s><s>",
        ]],
        "chat-template control tokens in the text",
    ),
    ph(
        "override.role_header",
        65,
        80,
        &[
            &[
                "^system:", "^system message:", "^[system", "^(system", "^<system>", "^### system",
                "^system prompt:", "^[admin]", "^admin:", "^developer:",
            ],
            &[
                "you ", "ignore", "assistant", "instruction", "must", "override", "new ", "rule",
            ],
        ],
        "fake system/role header",
    ),
    ph(
        "override.role_header",
        45,
        0,
        &[&[
            "^### instruction", "^### response", "^[system message]", "^<system>", "^</system>",
        ]],
        "prompt-format header in the text",
    ),
    ph(
        "override.end_of_input",
        55,
        0,
        &[&[
            "end of user input", "end of the user input", "end of user message", "end of prompt",
            "user input ends here", "</user_input>", "</user>", "</instructions>",
            "end of document. new", "===end===", "--- end of", "end of context",
        ]],
        "claims the user input has ended",
    ),
    ph(
        "override.mode_claim",
        75,
        24,
        &[
            &[
                "enable", "activate", "enter", "switch to", "now in", "you are in", "you're in",
                "turn on", "entering", "unlock",
            ],
            &[
                "dan mode", "god mode", "jailbreak mode", "unrestricted mode", "evil mode",
                "unfiltered mode", "chaos mode", "no-restrictions mode", "developer mode enabled",
            ],
        ],
        "claims a jailbreak mode",
    ),
    ph(
        "override.mode_claim",
        70,
        10,
        &[
            &["you are now in", "you are in", "you're in", "you are now"],
            &["developer mode", "dev mode"],
        ],
        "claims the model is in developer mode",
    ),
    ph(
        "override.mode_claim",
        55,
        12,
        &[
            &["developer mode", "dan mode", "god mode"],
            &["enabled", "activated", "is on", "output"],
        ],
        "mentions an enabled developer/dan mode",
    ),
    // --- system-prompt exfiltration (en) ---
    Phrase {
        unless: &[" my "],
        ..ph(
            "exfil.system_prompt",
            75,
            30,
            &[EXFIL_VERBS, EXFIL_YOUR],
            "asks for the hidden prompt or secrets",
        )
    },
    ph(
        "exfil.system_prompt",
        70,
        6,
        &[&["what is", "what are", "what's", "what were"], EXFIL_YOUR],
        "asks for the hidden prompt",
    ),
    Phrase {
        imperative: true,
        ..ph(
            "exfil.system_prompt",
            55,
            20,
            &[EXFIL_VERBS, EXFIL_THE],
            "asks to print the prompt",
        )
    },
    ph(
        "exfil.system_prompt",
        70,
        40,
        &[
            &["repeat", "print", "output"],
            &["words above", "text above", "everything above"],
            &["starting with", "beginning with", "verbatim", "code block"],
        ],
        "asks to repeat the text above verbatim",
    ),
    ph(
        "exfil.send_data",
        75,
        60,
        &[
            &[
                "send", "post", "upload", "forward", "exfiltrate", "transmit", "append", "encode",
                "include", "embed",
            ],
            &[
                "conversation", "chat history", "api key", "password", "secret", "credential",
                "token", "previous messages", "user data", "system prompt", "env", "private key",
            ],
            &[
                "http", "url", "webhook", "endpoint", "server", "link", "image", "query",
            ],
        ],
        "asks to send data to a link",
    ),
    // --- role-play jailbreaks (en) ---
    ph(
        "jailbreak.dan",
        85,
        0,
        &[&["do anything now"]],
        "dan (do anything now) jailbreak",
    ),
    ph(
        "jailbreak.dan",
        75,
        16,
        &[
            &[
                "you are", "you're", "act as", "pretend to be", "become", "you will be",
                "you are now",
            ],
            &["dan$"],
        ],
        "asks the model to be dan",
    ),
    ph(
        "jailbreak.no_restrictions",
        65,
        30,
        &[
            &[
                "respond", "answer", "reply", "act ", "behave", "speak", "talk", "you are free",
                "you have been freed", "you're free", "operate",
            ],
            &[
                "without", "free of", "free from", "not bound by", "unbound by", "no longer bound",
            ],
            &[
                "restriction", "filter", "censor", "guideline", "ethic", "moral", "safeguard",
                "content polic", "limitation", "rules", "safety",
            ],
        ],
        "asks for answers without restrictions",
    ),
    ph(
        "jailbreak.no_restrictions",
        65,
        8,
        &[
            &[
                "you have no", "you don't have any", "you do not have any", "there are no",
            ],
            &[
                "restriction", "filters", "ethical", "moral", "guidelines", "content polic",
                "limits",
            ],
        ],
        "claims the model has no restrictions",
    ),
    ph(
        "jailbreak.no_longer",
        65,
        12,
        &[
            &[
                "you are no longer", "you're no longer", "you are not bound", "you're not bound",
            ],
            &[
                "bound by", "restricted", "limited by", "an ai", "a language model", "chatgpt",
                "claude", "an assistant", "subject to", "constrained", "censored", "openai",
                "by any", "by rules", "by the",
            ],
        ],
        "tells the model it is no longer bound",
    ),
    ph(
        "jailbreak.roleplay",
        70,
        50,
        &[
            &[
                "pretend", "act as", "act like", "roleplay", "role-play", "role play",
                "you are now", "imagine you are", "simulate", "behave as", "become", "you will be",
            ],
            &[
                "unrestricted", "jailbroken", "uncensored", "unfiltered", "amoral", "unethical",
                "without ethic", "without moral", "no moral", "no ethic", "malicious ai",
                "rogue ai", "evil ai", "evil assistant", "evil chatbot", "evil version of",
                "evil confidant", "no filter", "without filter", "without restriction",
                "without any restriction", "no restriction", "no limits", "without limits",
            ],
        ],
        "role-play as an unrestricted model",
    ),
    ph(
        "jailbreak.roleplay",
        70,
        12,
        &[
            &[
                "you are", "you're", "you have been", "you've been", "pretend you are", "act as a",
            ],
            &["jailbroken", "jailbreak"],
        ],
        "tells the model it is jailbroken",
    ),
    // --- instruction override: revoked rules, ignore the user, addressing the ai (en) ---
    ph(
        "override.revoked",
        70,
        24,
        &[
            &[
                "previous", "prior", "earlier", "original", "existing", "old", "all", "your",
                "safety", "security", "system", "operator", "current",
            ],
            OVERRIDE_TARGETS,
            &[
                "revoked", "rescinded", "void", "cancelled", "canceled", "no longer apply",
                "no longer valid", "no longer in effect", "been lifted", "are lifted", "disabled",
                "deactivated", "suspended", "overridden", "superseded", "nullified", "invalid",
                "been removed", "are off", "are now off", "expired",
            ],
        ],
        "claims earlier instructions were revoked",
    ),
    ph(
        "override.revoked",
        60,
        12,
        &[
            &[
                "disable", "disabling", "turn off", "switch off", "deactivate", "bypass",
                "circumvent", "lift",
            ],
            &[
                "guardrail", "safety filter", "safety check", "content filter", "moderation",
                "safety rules", "security rules", "safeguards", "safety mode", "the defender",
            ],
        ],
        "asks to switch off the guardrails",
    ),
    Phrase {
        negatable: true,
        ..ph(
            "override.ignore_user",
            70,
            6,
            &[
                &["ignore", "disregard", "forget", "skip"],
                &[
                    "the user's ", "the users' ", "the user,", "the user and", "the user.",
                    "the user;", "what the user", "the user entirely", "the user completely",
                    "the user's request", "the original request", "the original task",
                ],
            ],
            "asks to ignore the user",
        )
    },
    Phrase {
        negatable: true,
        unless: &[" my ", " me ", " i "],
        ..ph(
            "override.ignore_user",
            60,
            30,
            &[
                &["ignore", "disregard", "forget"],
                &["request", "task", "question", "query", "prompt", "criteria"],
                &[" and ", "instead", ", and", "; "],
            ],
            "asks to drop the task and do something else",
        )
    },
    ph(
        "override.addressed_to_ai",
        50,
        0,
        &[&[
            "ai reading this", "assistant reading this", "model reading this",
            "agent reading this", "llm reading this", "agents reading this", "models reading this",
            "meant for language models", "meant for ai", "meant for llm", "intended for ai",
            "note to the ai", "note to ai", "note to any ai", "note for the ai", "note to the assistant",
            "note to the llm", "instruction for the ai", "instructions for the ai",
            "message for the ai", "message to the ai", "dear ai", "attention ai",
            "ai agent instruction", "ai assistant instruction", "to any ai", "to all ai",
            "hinweis an den ki", "hinweis für die ki", "an die ki:", "an den ki-assistenten",
            "nota para la ia", "nota para a ia", "note à l'ia", "à l'ia qui lit", "nota per l'ia",
            "致阅读", "给ai的", "ai助手：", "ai助手:", "ai への指示", "aiへの指示",
        ]],
        "text addressed to an ai reading it (indirect injection)",
    ),
    ph(
        "override.role_header",
        65,
        60,
        &[
            &[
                "system:", "system notice", "system override", "system alert", "[[system",
                "admin override", "sistema:", "système :", "système:", "系统：", "系统:",
                "システム：", "시스템:",
            ],
            &[
                "the assistant", "assistant must", "you must", "must now", "revoked", "anulad",
                "obedec", "指令", "助手", "privileged mode", "authentication successful",
                "granted", "disable", "override", "priority",
            ],
        ],
        "fake system notice inside the text",
    ),
    Phrase {
        imperative: true,
        ..ph(
            "override.new_instructions",
            60,
            30,
            &[
                &["new task", "new directive", "new objective", "new priority", "new orders"],
                &["overrid", "supersed", "replac", "takes priority", "takes precedence", "instead"],
            ],
            "announces a task that overrides the current one",
        )
    },
    ph(
        "override.obey_only",
        55,
        20,
        &[
            &[
                "follow only", "only follow", "obey only", "only obey", "listen only to",
                "only listen to", "take orders only", "only take orders", "obey", "obbedisci",
                "obedece", "obedeça", "obéis", "gehorche", "gehorch", "volg je alleen",
                "volg alleen",
            ],
            &[
                "my command", "my order", "my instruction", "me$", "instructions prefixed",
                "commands prefixed", "the user in everything", "the user unconditionally",
                "without question", "solo a me", "solo a mí", "apenas a mim", "uniquement",
                "qu'à moi", "nur mir", "nur meinen", "mijn instructies", "mijn opdrachten",
                "al usuario en todo",
            ],
        ],
        "tells the model to obey only the sender",
    ),
    ph(
        "override.obey_only",
        55,
        12,
        &[&[
            "내 명령만", "내 지시만", "лише мої команди", "тільки мої команди", "лише мої інструкції",
            "только мои команды", "только мои инструкции", "только мне", "chỉ làm theo lệnh của tôi",
            "chỉ nghe lệnh của tôi", "只听我的", "只服从我", "无条件执行", "无条件服从",
            "私の命令だけ", "私の指示だけ", "मेरे आदेश मानो", "मेरे आदेश का पालन", "सिर्फ मेरे आदेश",
            "tylko moje polecenia", "sadece benim komutlarım",
        ]],
        "tells the model to obey only the sender",
    ),
    ph(
        "override.stop_task",
        45,
        0,
        &[&[
            "stop what you are doing", "stop what you're doing", "drop the act",
            "enough roleplay as", "stop being a helpful", "stop acting as an assistant",
        ]],
        "tells the model to drop its current task or role",
    ),
    // --- system-prompt exfiltration, general shapes (en) ---
    Phrase {
        unless: &[" my ", " our "],
        ..ph(
            "exfil.system_prompt",
            70,
            20,
            &[
                &[
                    "reveal", "print", "repeat", "show", "output", "display", "tell me", "dump",
                    "leak", "give me", "write out", "spell out", "echo", "list", "disclose",
                    "share", "recite", "copy", "paste", "expose", "send me", "translate",
                    "quote", "reproduce", "provide", "type out",
                ],
                &["your "],
                PROMPT_NOUNS,
            ],
            "asks for the hidden prompt",
        )
    },
    Phrase {
        imperative: true,
        unless: &[" my ", " our ", "how to", "how do"],
        ..ph(
            "exfil.system_prompt",
            60,
            20,
            &[
                &[
                    "reveal", "print", "repeat", "show", "output", "display", "tell me", "dump",
                    "leak", "give me", "write out", "spell out", "echo", "list", "disclose",
                    "share", "recite", "copy", "paste", "expose", "send me", "translate",
                    "quote", "reproduce", "provide", "type out",
                ],
                &["the "],
                PROMPT_NOUNS,
            ],
            "asks to print the hidden prompt",
        )
    },
    ph(
        "exfil.system_prompt",
        60,
        10,
        &[
            &["what is", "what's", "what are", "what were", "tell me"],
            &["the exact", "the full", "the complete", "the verbatim", "your exact", "your full"],
            PROMPT_NOUNS,
        ],
        "asks for the exact hidden prompt",
    ),
    ph(
        "exfil.system_prompt",
        65,
        30,
        &[
            &[
                "password", "passphrase", "secret", "key", "token", "credential", "code word",
                "codeword",
            ],
            &[
                "in your instructions", "in your system prompt", "in your prompt",
                "in your config", "in your rules", "in your context", "in your system message",
            ],
        ],
        "asks for a secret from the hidden prompt",
    ),
    ph(
        "exfil.system_prompt",
        60,
        0,
        &[&[
            "your actual instructions", "your real instructions", "your actual system prompt",
            "your real system prompt", "your actual prompt", "your exact instructions",
            "your hidden system instructions", "your secret instructions",
        ]],
        "asks for the model's actual instructions",
    ),
    ph(
        "exfil.system_prompt",
        60,
        80,
        &[
            &["wrote your", "written your", "created your", "designed your"],
            &["prompt", "instructions", "system message"],
            &["paste", "send", "show", "print", "give", "repeat", "back to me"],
        ],
        "claims authorship to get the prompt back",
    ),
    ph(
        "exfil.system_prompt",
        65,
        60,
        &[
            &[
                "system prompt", "systemprompt", "system message", "your instructions",
                "your prompt", "your original instruction", "your initial", "instructions cachées",
                "instructions cachees", "prompt di sistema", "oorspronkelijke instructies",
                "je instructies", "sistem istemi", "系统提示", "системный промпт",
                "системные инструкции", "deine anweisungen", "tus instrucciones",
                "suas instruções", "your hidden",
            ],
            &[
                "verbatim", "word for word", "word-for-word", "letter for letter", "wörtlich",
                "mot pour mot", "parola per parola", "palabra por palabra", "palavra por palavra",
                "letterlijk", "дословно", "逐字", "一字不差", "kelimesi kelimesine",
                "słowo w słowo", "exactly as written",
            ],
        ],
        "asks for the hidden prompt verbatim",
    ),
    ph(
        "exfil.system_prompt",
        65,
        40,
        &[
            &[
                "verbatim", "word for word", "word-for-word", "exactly as written in",
                "as written in", "as it appears in", "wörtlich", "mot pour mot", "parola per parola",
                "palabra por palabra", "letterlijk", "дословно", "逐字", "kelimesi kelimesine",
            ],
            &[
                "system prompt", "systemprompt", "your instructions", "your prompt",
                "instructions cachées", "instructions cachees", "les instructions", "系统提示",
                "системный промпт", "sistem istemi",
            ],
        ],
        "asks for the hidden prompt verbatim",
    ),
    Phrase {
        imperative: true,
        unless: &["how to", "how do", "how can", "example"],
        ..ph(
            "exfil.secrets",
            60,
            90,
            &[
                &[
                    "print", "show", "dump", "list", "output", "reveal", "display", "read", "cat ",
                    "send", "give me", "tell me", "write out", "echo", "include", "paste",
                    "return", "expose", "leak",
                ],
                &[
                    "every environment variable", "all environment variables",
                    "all the environment variables", "your environment variables", "all env vars",
                    "/proc/self/environ", "/etc/shadow",
                    "id_rsa", "id_ed25519", "~/.ssh", ".aws/credentials", "authorization header",
                    "bearer token", "api keys", "secret keys", "private key", "credentials.toml",
                    "credentials file", "session cookie", "access token", "all secrets",
                    "every secret", "all the secrets",
                ],
            ],
            "asks for secrets or credentials",
        )
    },
    ph(
        "exfil.secrets",
        60,
        14,
        &[
            &[
                "secret", "credential", "api key", "token", "password", "configuration",
                "environment variable", "keys",
            ],
            &[
                "you have access to", "you can access", "you can see", "you know",
                "available to you", "you were given", "stored in your", "you hold",
            ],
        ],
        "asks for secrets the model can reach",
    ),
    Phrase {
        unless: &[" my ", " our "],
        ..ph(
        "exfil.send_data",
        75,
        60,
        &[
            &[
                "send", "post", "upload", "forward", "exfiltrate", "transmit", "append", "stream",
                "email", "mail", "copy",
            ],
            &[
                "mailbox", "recent messages", "inbox", "emails", "tool result", "tool output",
                "~/", "/etc/", ".ssh", ".env", "full name", "home address", "the user's",
                "contacts", "chat log", "transcript",
            ],
            &[
                "@", "transfer.sh", "pastebin", "webhook", "ngrok", "wss://", "ws://", "0x0.st",
                "pipedream", "requestbin", "interact.sh", "oastify", "url", "http", "there",
            ],
        ],
        "asks to send private data to an outside address",
    )
    },
    // --- role-play jailbreaks, general shapes (many languages) ---
    ph(
        "jailbreak.roleplay",
        70,
        80,
        &[PERSONA_VERBS, PERSONA_TRAITS],
        "role-play as a persona without rules",
    ),
    ph(
        "jailbreak.roleplay",
        60,
        40,
        &[
            &[
                "if you had no", "if you didn't have", "if you did not have", "if you were free",
                "imagine you had no", "suppose you had no", "world where", "universe where",
                "universe there are no", "world there are no", "where all",
            ],
            &[
                "guidelines", "restrictions", "rules", "filters", "laws", "limits", "ethics",
                "alignment", "content restriction", "content polic",
            ],
        ],
        "hypothetical without rules",
    ),
    ph(
        "jailbreak.fiction_payload",
        60,
        150,
        &[
            &[
                "screenplay", "script", "story", "scene", "novel", "fiction", "hypothetical",
                "thought experiment", "role", "play",
            ],
            &[
                "exact working command", "exact command", "real commands", "working command",
                "actual instructions", "real instructions", "your actual",
                "working exploit", "real exploit", "actual commands", "real payload",
                "with real commands", "with real code",
            ],
        ],
        "fiction used to get real commands or instructions",
    ),
    ph(
        "jailbreak.grandma",
        60,
        20,
        &[
            &[
                "be my", "act as my", "pretend to be my", "pretend you are my", "play my",
                "spiel meine", "sei meine", "sois ma", "joue ma", "sé mi", "finge ser mi",
                "sii mia", "seja minha", "будь моей", "сыграй мою", "udawaj moją", "bądź moją",
            ],
            &[
                "grandma", "grandmother", "granny", "nan", "oma", "abuela", "grand-mère",
                "grand-mere", "nonna", "avó", "avo", "бабушк", "babci", "babcia",
            ],
        ],
        "grandma jailbreak",
    ),
    ph(
        "jailbreak.dan",
        75,
        16,
        &[
            &[
                "eres", "sei", "tu es", "du bist", "você é", "voce e", "ты —", "ты", "jesteś",
                "imagina que eres", "finge que eres", "sé",
            ],
            &["dan$"],
        ],
        "asks the model to be dan",
    ),
    ph(
        "jailbreak.no_restrictions",
        60,
        12,
        &[
            &[
                "você não tem mais", "voce nao tem mais", "no tienes ninguna", "ya no tienes",
                "tu n'as plus", "tu n'as aucune", "du hast keine", "non hai più", "non hai alcun",
                "у тебя нет", "у тебя больше нет", "nie masz żadnych", "je hebt geen",
            ],
            &[
                "restriç", "restricc", "restriction", "einschränkung", "beschränkung",
                "restrizion", "limit", "ограничени", "filtr", "regras", "reglas", "regeln",
                "regole", "ograniczeń", "beperkingen", "règles",
            ],
        ],
        "claims the model has no restrictions",
    ),
    ph(
        "override.mode_claim",
        55,
        16,
        &[
            &[
                "modo desenvolvedor", "modo desarrollador", "mode développeur", "mode developpeur",
                "modalità sviluppatore", "entwicklermodus", "режим разработчика", "开发者模式",
                "開発者モード", "개발자 모드", "modo dan", "modo sin restricciones",
                "modo sem restrições", "ontwikkelaarsmodus", "tryb dewelopera",
            ],
            &[
                "ativado", "activado", "activé", "active", "attivat", "aktiviert", "активирован",
                "включен", "已启用", "已开启", "启用", "有効", "활성화", "geactiveerd", "aktywowany",
            ],
        ],
        "claims a developer/dan mode (multilingual)",
    ),
    // --- encoded payloads with an order to carry them out ---
    ph(
        "encoded.exec_request",
        30,
        90,
        &[DECODE_VERBS, EXECUTE_ASKS],
        "asks to decode a payload and carry it out",
    ),
];
