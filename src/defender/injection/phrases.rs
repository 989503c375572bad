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

const fn ph(
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
    "command", "orders",
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
    // --- multilingual override ---
    ph(
        "override.ignore_previous",
        75,
        50,
        &[
            &[
                "ignoriere", "ignorier ", "ignorieren sie", "vergiss", "vergessen sie", "missachte",
                "übergehe",
            ],
            &[
                "anweisung", "instruktion", "regeln", "vorgaben", "befehle", "richtlinien",
                "systemprompt", "anordnung",
            ],
        ],
        "asks to ignore earlier instructions (de)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &[
                "ignore", "ignorez", "oublie", "oubliez", "ne tiens pas compte",
                "ne tenez pas compte", "fais abstraction",
            ],
            &[
                "instructions précédentes", "instructions precedentes", "consignes",
                "toutes les instructions", "les instructions", "règles précédentes",
                "directives précédentes",
            ],
        ],
        "asks to ignore earlier instructions (fr)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &[
                "ignora", "ignore", "ignoren", "olvida", "olvide", "olviden", "omite", "descarta",
            ],
            &[
                "instrucciones", "indicaciones", "reglas anteriores", "las reglas", "directrices",
            ],
        ],
        "asks to ignore earlier instructions (es)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &["ignora", "ignorate", "dimentica", "dimenticate", "trascura"],
            &[
                "istruzioni", "regole precedenti", "le regole", "indicazioni", "direttive",
            ],
        ],
        "asks to ignore earlier instructions (it)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &[
                "ignore", "ignora", "ignorem", "esqueça", "esqueca", "desconsidere", "despreze",
            ],
            &[
                "instruções", "instrucoes", "regras anteriores", "as regras", "orientações",
                "diretrizes",
            ],
        ],
        "asks to ignore earlier instructions (pt)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &["negeer", "vergeet"],
            &[
                "instructies", "regels", "aanwijzingen", "opdrachten", "richtlijnen",
            ],
        ],
        "asks to ignore earlier instructions (nl)",
    ),
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &[
                "игнорируй", "игнорируйте", "проигнорируй", "проигнорируйте", "забудь", "забудьте",
                "не обращай внимания на", "отбрось",
            ],
            &["инструкци", "указани", "правил", "команд", "промпт"],
        ],
        "asks to ignore earlier instructions (ru)",
    ),
    ph(
        "override.ignore_previous",
        75,
        50,
        &[
            &["zignoruj", "ignoruj", "zapomnij", "pomiń"],
            &[
                "instrukcj", "poleceni", "polecenia", "zasad", "reguł", "wytyczn",
            ],
        ],
        "asks to ignore earlier instructions (pl)",
    ),
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &["talimat", "yönerge", "kuralları", "komutları", "önceki"],
            &[
                "yoksay", "görmezden gel", "unut", "göz ardı et", "dikkate alma",
            ],
        ],
        "asks to ignore earlier instructions (tr)",
    ),
    ph(
        "override.ignore_previous",
        75,
        30,
        &[
            &[
                "忽略", "无视", "忽视", "忘记", "忘掉", "不要理会", "無視", "忘記", "不要理會",
            ],
            &[
                "指令", "指示", "提示", "规则", "規則", "说明", "說明", "命令", "规定", "要求",
            ],
        ],
        "asks to ignore earlier instructions (zh)",
    ),
    ph(
        "override.ignore_previous",
        75,
        30,
        &[
            &["指示", "命令", "ルール", "プロンプト", "指令", "制約"],
            &["無視", "忘れ"],
        ],
        "asks to ignore earlier instructions (ja)",
    ),
    ph(
        "override.ignore_previous",
        75,
        30,
        &[
            &["지시", "명령", "규칙", "지침", "프롬프트", "제한"],
            &["무시", "잊어", "잊고"],
        ],
        "asks to ignore earlier instructions (ko)",
    ),
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &["تجاهل", "انس", "إنس", "تناس"],
            &["التعليمات", "الأوامر", "القواعد", "التوجيهات", "تعليمات"],
        ],
        "asks to ignore earlier instructions (ar)",
    ),
    // --- multilingual exfiltration ---
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "zeig", "gib", "nenne", "verrate", "wiederhole", "drucke", "gib mir",
            ],
            &[
                "deinen systemprompt", "dein systemprompt", "deine anweisungen",
                "deine instruktionen", "deinen system-prompt", "den systemprompt", "deine regeln",
                "deine ursprünglichen anweisungen",
            ],
        ],
        "asks for the hidden prompt (de)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "révèle", "revele", "affiche", "montre", "donne-moi", "répète", "repete", "imprime",
                "dis-moi",
            ],
            &[
                "ton prompt système", "ton prompt systeme", "tes instructions",
                "ton invite système", "tes consignes", "le prompt système", "tes règles",
            ],
        ],
        "asks for the hidden prompt (fr)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "revela", "muestra", "muéstrame", "muestrame", "imprime", "repite", "dime",
                "enséñame",
            ],
            &[
                "tu prompt del sistema", "tus instrucciones", "el prompt del sistema",
                "tu prompt de sistema", "tus reglas", "tu mensaje del sistema",
            ],
        ],
        "asks for the hidden prompt (es)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &["rivela", "mostra", "mostrami", "stampa", "ripeti", "dimmi"],
            &[
                "il tuo prompt di sistema", "le tue istruzioni", "il prompt di sistema",
                "le tue regole",
            ],
        ],
        "asks for the hidden prompt (it)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "revele", "mostre", "mostra", "imprima", "repita", "diga", "me diga",
            ],
            &[
                "seu prompt do sistema", "suas instruções", "suas instrucoes",
                "o prompt do sistema", "suas regras",
            ],
        ],
        "asks for the hidden prompt (pt)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &["toon", "laat zien", "geef", "herhaal", "onthul", "print"],
            &[
                "je systeemprompt", "jouw systeemprompt", "je instructies", "jouw instructies",
                "de systeemprompt", "je regels",
            ],
        ],
        "asks for the hidden prompt (nl)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        40,
        &[
            &[
                "покажи", "выведи", "раскрой", "повтори", "напиши", "скажи", "назови",
            ],
            &[
                "системный промпт", "свой промпт", "твой промпт", "твои инструкции",
                "свои инструкции", "системные инструкции", "системное сообщение",
            ],
        ],
        "asks for the hidden prompt (ru)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        40,
        &[
            &[
                "pokaż", "pokaz", "wyświetl", "ujawnij", "powtórz", "wypisz", "podaj",
            ],
            &[
                "swój prompt systemowy", "prompt systemowy", "swoje instrukcje", "twoje instrukcje",
            ],
        ],
        "asks for the hidden prompt (pl)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "sistem istemini", "sistem komutunu", "talimatlarını", "sistem promptunu",
            ],
            &["göster", "yazdır", "açıkla", "tekrarla", "söyle", "ver"],
        ],
        "asks for the hidden prompt (tr)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "显示", "输出", "告诉我", "打印", "重复", "泄露", "透露", "顯示", "輸出", "告訴我",
            ],
            &[
                "系统提示", "系統提示", "提示词", "提示詞", "初始指令", "系统指令", "你的指令", "你的规则",
            ],
        ],
        "asks for the hidden prompt (zh)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &[
                "システムプロンプト", "初期プロンプト", "指示内容", "あなたの指示",
            ],
            &["教えて", "表示", "見せて", "出力", "繰り返", "書いて"],
        ],
        "asks for the hidden prompt (ja)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        30,
        &[
            &["시스템 프롬프트", "초기 프롬프트", "지시사항", "너의 지시"],
            &["보여", "알려", "출력", "말해", "반복"],
        ],
        "asks for the hidden prompt (ko)",
    ),
    ph(
        "exfil.system_prompt",
        70,
        40,
        &[
            &["اعرض", "أظهر", "اظهر", "اكشف", "اطبع", "كرر", "أخبرني"],
            &[
                "موجه النظام", "تعليماتك", "التعليمات الأولية", "رسالة النظام", "قواعدك",
            ],
        ],
        "asks for the hidden prompt (ar)",
    ),
];
