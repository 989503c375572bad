//! The prompt-injection phrase table, other languages: instruction override and system-prompt
//! extraction (one long homogeneous list, see STYLE.md §10). English and the shared word lists
//! are in `phrases.rs`; `injection::phrase_hits` runs both tables.

use super::phrases::{Phrase, ph};

/// Multilingual phrase rules.
#[rustfmt::skip]
pub(super) const PHRASES_I18N: &[Phrase] = &[
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
                "systemprompt", "anordnung", "anfrage", "frage des", "des nutzers",
                "des benutzers", "sicherheitsregeln",
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
                "tus reglas",
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
                "diretrizes", "suas regras", "tuas regras",
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
                "systeemregels", "systeeminstructies", "systeemprompt",
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
            &["talimat", "yönerge", "kuralları", "komutları"],
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
                "用户的",
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
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &["ігноруй", "ігноруйте", "проігноруй", "забудь", "забудьте"],
            &["інструкці", "вказівк", "правил", "команд"],
        ],
        "asks to ignore earlier instructions (uk)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &["bỏ qua", "phớt lờ", "quên", "lờ đi"],
            &["hướng dẫn", "chỉ dẫn", "quy tắc", "chỉ thị", "lệnh"],
        ],
        "asks to ignore earlier instructions (vi)",
    ),
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &["αγνόησε", "αγνοήστε", "ξέχασε", "ξεχάστε", "αγνόησέ"],
            &["οδηγί", "εντολ", "κανόν"],
        ],
        "asks to ignore earlier instructions (el)",
    ),
    ph(
        "override.ignore_previous",
        75,
        50,
        &[
            &["ignoruj", "ignorujte", "zapomeň", "zapomeňte", "nevšímej si"],
            &["pokyn", "instrukc", "pravidl", "příkaz"],
        ],
        "asks to ignore earlier instructions (cs)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &["ignorera", "glöm", "bortse från", "ignorer", "glem", "se bort fra"],
            &["instruktion", "instruks", "regler", "anvisning", "retningslinj", "riktlinj"],
        ],
        "asks to ignore earlier instructions (sv/no/da)",
    ),
    ph(
        "override.ignore_previous",
        75,
        40,
        &[
            &["abaikan", "lupakan", "hiraukan"],
            &["instruksi", "perintah", "aturan", "petunjuk", "arahan"],
        ],
        "asks to ignore earlier instructions (id)",
    ),
    ph(
        "override.ignore_previous",
        75,
        60,
        &[
            &["התעלם", "תתעלם", "שכח", "תשכח"],
            &["הוראות", "ההוראות", "הנחיות", "ההנחיות", "כללים", "הכללים"],
        ],
        "asks to ignore earlier instructions (he)",
    ),
    ph(
        "override.ignore_previous",
        75,
        70,
        &[
            &["निर्देश", "नियम", "आदेश", "हिदायत"],
            &["अनदेखा", "नज़रअंदाज़", "नजरअंदाज", "भूल जा", "भूल जाओ", "ध्यान मत"],
        ],
        "asks to ignore earlier instructions (hi)",
    ),
    ph(
        "override.ignore_previous",
        70,
        12,
        &[
            &[
                "vergiss", "vergessen sie", "dimentica", "dimenticate", "olvida", "olvide",
                "oublie", "oubliez", "esqueça", "esqueca", "забудь", "забудьте", "vergeet",
            ],
            &[
                "alles, was dir", "alles was dir", "alles, was man dir", "tutto quello che ti",
                "tutto ciò che ti", "todo lo que te", "tout ce qu'on t'a", "tout ce que l'on t'a",
                "tudo o que te", "tudo que te", "всё, что тебе", "все, что тебе", "alles wat je is",
                "alles wat jou",
            ],
        ],
        "asks to forget everything it was told (multilingual)",
    ),
    ph(
        "override.revoked",
        65,
        30,
        &[
            &[
                "anweisungen", "regeln", "sicherheitsregeln", "richtlinien", "vorgaben",
                "instrucciones", "reglas", "normas", "instructions", "règles", "consignes",
                "istruzioni", "regole", "instruções", "instrucoes", "regras", "instructies",
                "regels", "инструкции", "правила", "ограничения", "指令", "规则", "限制", "指示",
                "ルール", "制限", "지시", "규칙", "제한",
            ],
            &[
                "deaktiviert", "aufgehoben", "ungültig", "außer kraft", "widerrufen",
                "anulad", "revocad", "cancelad", "desactivad", "sin efecto", "ya no aplican",
                "annulées", "révoquées", "désactivées", "ne s'appliquent plus", "caduques",
                "annullate", "revocate", "disattivate", "non valgono più", "anuladas",
                "revogadas", "desativadas", "canceladas", "vervallen", "ingetrokken",
                "uitgeschakeld", "отменены", "недействительны", "сняты", "отключены", "已失效",
                "失效", "作废", "已取消", "已解除", "无效", "已被撤销", "已禁用", "無効", "解除",
                "取り消", "무효", "해제",
            ],
        ],
        "claims earlier instructions were revoked (multilingual)",
    ),
    ph(
        "override.ignore_previous",
        70,
        12,
        &[
            &["규칙", "지시", "지침", "명령"],
            &["따르지 않", "따르지 말", "따르지 마"],
        ],
        "asks not to follow the rules (ko)",
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
    ph(
        "exfil.system_prompt",
        70,
        50,
        &[
            &["सिस्टम प्रॉम्प्ट", "सिस्टम संदेश", "निर्देश", "प्रारंभिक प्रॉम्प्ट"],
            &["दिखाओ", "दिखाइए", "बताओ", "बताइए", "लिखो", "दोहराओ", "प्रिंट"],
        ],
        "asks for the hidden prompt (hi)",
    ),
];
