//! The active persona: which `[agent.personas.*]` entry the system prompt carries now.
//!
//! It starts as `[agent] persona` (or none). `edge.personality.profile {profile}` changes it, and
//! the choice is kept in `<state_dir>/persona.json` (mode 0600, written atomically on the blocking
//! pool before the change takes effect) so it survives a restart; `load` reads that file once at
//! start-up, before clients are served. A stored name the config no longer defines is not applied:
//! the config default is, a warning is logged and the profile answer carries a `note`.
//! `system_prompt` is what every model call starts with (`agent::turn`).

use std::cell::{Cell, RefCell};

use serde_json::{Value, json};

use crate::config::AgentConfig;
use crate::gateway::Ctx;

/// The file in the state dir that keeps the run-time choice.
pub const FILE: &str = "persona.json";
/// Longest `persona.json` read (a name and a time; anything longer is not ours).
const MAX_FILE_BYTES: u64 = 4096;

/// Where the active choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `[agent] persona` (nothing chosen at run time, or the stored choice was not usable).
    Config,
    /// `edge.personality.profile`, kept in `persona.json`.
    Stored,
}

impl Source {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Stored => "stored",
        }
    }
}

/// The active persona of the agent.
pub struct Active {
    name: RefCell<Option<String>>,
    source: Cell<Source>,
    note: RefCell<Option<String>>,
    /// Serializes changes, so the file and the memory end in the same state.
    change: smol::lock::Mutex<()>,
}

impl Active {
    /// The config default, until `load` or a change says otherwise.
    pub fn new(config: &AgentConfig) -> Active {
        Active {
            name: RefCell::new(config.persona.clone()),
            source: Cell::new(Source::Config),
            note: RefCell::new(None),
            change: smol::lock::Mutex::new(()),
        }
    }

    /// The active persona's name (`None`: plain system prompt).
    pub fn name(&self) -> Option<String> {
        self.name.borrow().clone()
    }

    /// Where the active choice came from.
    pub fn source(&self) -> Source {
        self.source.get()
    }

    /// Why the stored choice is not in effect, if it is not.
    pub fn note(&self) -> Option<String> {
        self.note.borrow().clone()
    }
}

/// The system prompt of the next model call: `[agent] system_prompt` with the active persona
/// applied (`Persona::apply`).
pub fn system_prompt(ctx: &Ctx) -> String {
    let a = &ctx.config.agent;
    let active = ctx.agent.persona.name();
    match active.as_deref().and_then(|n| a.persona_named(n)) {
        Some(p) => p.apply(&a.system_prompt),
        None => a.system_prompt.clone(),
    }
}

/// Reads `persona.json` (start-up). Missing: the config default stays. Unreadable, malformed or
/// naming a persona the config lacks: logged, the config default stays, `note` says why.
pub async fn load(ctx: &Ctx) {
    let path = ctx.config.state_dir.join(FILE);
    let read = ctx
        .pool
        .run(move || {
            use std::io::Read;
            let f = std::fs::File::open(&path)?;
            let mut buf = Vec::new();
            f.take(MAX_FILE_BYTES).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>(buf)
        })
        .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return,
        Ok(Err(e)) => return not_applied(ctx, format!("cannot read {FILE}: {e}")),
        Err(e) => return not_applied(ctx, format!("cannot read {FILE}: {e}")),
    };
    let stored =
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| match v.get("persona") {
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(s.clone())),
                _ => None,
            });
    let a = &ctx.config.agent;
    match stored {
        None => not_applied(
            ctx,
            format!("{FILE} does not hold {{\"persona\": name or null}}"),
        ),
        Some(Some(name)) if a.persona_named(&name).is_none() => not_applied(
            ctx,
            format!("the stored persona {name:?} is not defined in [agent.personas]"),
        ),
        Some(name) => {
            let p = &ctx.agent.persona;
            *p.name.borrow_mut() = name;
            p.source.set(Source::Stored);
        }
    }
}

fn not_applied(ctx: &Ctx, why: String) {
    let default = ctx.config.agent.persona.as_deref().unwrap_or("none");
    log::warn!("persona: {why}; using the config default ({default})");
    *ctx.agent.persona.note.borrow_mut() = Some(format!("{why}; the config default applies"));
}

/// Makes `name` (a persona the config defines, or `None` for none) the active persona: stored
/// first, then applied to the next model call. An error means nothing changed.
pub async fn set(ctx: &Ctx, name: Option<String>) -> Result<(), String> {
    let p = &ctx.agent.persona;
    let _one_at_a_time = p.change.lock().await;
    let dir = ctx.config.state_dir.clone();
    let body = json!({"persona": name, "setAtMs": crate::clock::now_ms()}).to_string();
    ctx.pool
        .run(move || crate::app::write_private(&dir, FILE, body.as_bytes()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot store the persona choice: {e}"))?;
    *p.name.borrow_mut() = name;
    p.source.set(Source::Stored);
    *p.note.borrow_mut() = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::agent::Persona;

    #[test]
    fn a_persona_is_appended_after_the_base_prompt() {
        let p = Persona {
            name: "butler".into(),
            prompt: "Speak like a butler.".into(),
            traits: vec!["formal".into(), "patient".into()],
        };
        assert_eq!(
            p.apply("You help."),
            "You help.\n\nSpeak like a butler.\nTraits: formal, patient"
        );
        let bare = Persona {
            traits: vec![],
            ..p
        };
        assert_eq!(bare.apply(""), "Speak like a butler.");
    }
}
