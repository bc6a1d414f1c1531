//! Which channel a log line's logger belongs to, from an explicit table of what OpenClaw 2026.9.6
//! actually names its loggers (read from its dist and the `@openclaw/whatsapp` plugin's).
//!
//! OpenClaw has two kinds of logger names:
//! - subsystems (`createSubsystemLogger("gateway/channels/whatsapp")`, the channel manager's
//!   `createSubsystemLogger("channels").child("whatsapp")`, `telegram/network`, ...): the console
//!   shows them shortened (`dist/subsystem-*.mjs`, `formatSubsystemForConsole`: leading `gateway`,
//!   `channels`, `providers` dropped, a channel id kept alone), JSON lines and file records carry
//!   them whole;
//! - tslog child loggers bound to a `module` (`getChildLogger({ module: "web-reconnect", runId })`):
//!   they write only to the file log, never to the console.

/// Channel ids that head a channel's subsystem: OpenClaw's own list (`CHANNEL_SUBSYSTEM_PREFIXES`
/// in `dist/subsystem-*.mjs`), plus `wechat`, which clawkeeper's core also lists.
pub const CHANNEL_IDS: &[&str] = &[
    "clickclack",
    "discord",
    "feishu",
    "googlechat",
    "imessage",
    "irc",
    "line",
    "matrix",
    "mattermost",
    "msteams",
    "nextcloud-talk",
    "nostr",
    "openclaw-weixin",
    "qqbot",
    "signal",
    "slack",
    "synology-chat",
    "telegram",
    "tlon",
    "twitch",
    "webchat",
    "wechat",
    "wecom",
    "whatsapp",
    "yuanbao",
    "zalo",
    "zalouser",
];

/// Leading subsystem segments that name no channel: OpenClaw drops them on the console too
/// (`SUBSYSTEM_PREFIXES_TO_DROP`).
const GENERIC_PREFIXES: &[&str] = &["gateway", "channels", "providers"];

/// tslog `module` bindings of the WhatsApp plugin (`@openclaw/whatsapp` 2026.9.6): `web-reconnect`
/// (`auto-reply/monitor.ts`, the reconnect loop), `web-session` (`session.ts`), `web-inbound`,
/// `web-heartbeat`, `web-auto-reply`, `web-outbound`, `web-auth-store`, and `baileys` (the socket
/// library's own logger).
pub const MODULE_CHANNELS: &[(&str, &str)] = &[
    ("web-reconnect", "whatsapp"),
    ("web-session", "whatsapp"),
    ("web-inbound", "whatsapp"),
    ("web-heartbeat", "whatsapp"),
    ("web-auto-reply", "whatsapp"),
    ("web-outbound", "whatsapp"),
    ("web-auth-store", "whatsapp"),
    ("baileys", "whatsapp"),
];

/// Whose line it is, by its logger name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A channel's own logger.
    Channel(&'static str),
    /// A logger of the gateway or the channel manager as a whole (`gateway`, `channels`): a line of
    /// it is about the channel its text names, if any.
    Generic,
    /// Some other part of OpenClaw (`agents/tools`, `state/db`, `plugins`, ...): never a channel
    /// signal, whatever its text says.
    Other,
}

/// The owner of a subsystem name, whole (`gateway/channels/whatsapp/inbound`) or as the console
/// shows it (`whatsapp`). A bare module name (`web-reconnect`) is looked up too, since a console
/// bracket could only hold one if someone printed it by hand.
pub fn owner_of_subsystem(subsystem: &str) -> Owner {
    let subsystem = subsystem.trim();
    if let Some(channel) = owner_of_module(subsystem) {
        return Owner::Channel(channel);
    }
    let mut parts = subsystem.split('/').filter(|p| !p.is_empty()).peekable();
    while parts
        .peek()
        .is_some_and(|p| GENERIC_PREFIXES.iter().any(|g| p.eq_ignore_ascii_case(g)))
    {
        parts.next();
    }
    match parts.next() {
        None => Owner::Generic,
        Some(first) => channel_id(first).map_or(Owner::Other, Owner::Channel),
    }
}

/// The channel of a tslog `module` binding.
pub fn owner_of_module(module: &str) -> Option<&'static str> {
    MODULE_CHANNELS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(module.trim()))
        .map(|(_, channel)| *channel)
}

/// `word` as a known channel id.
pub fn channel_id(word: &str) -> Option<&'static str> {
    CHANNEL_IDS.iter().copied().find(|c| c.eq_ignore_ascii_case(word))
}

/// The first channel a lower-case text names as a whole word (`whatsapp session logged out`), for
/// lines with no channel logger: raw `console.*` output, the gateway's own lines. Short ids
/// (`line`, `irc`, `zalo`, `tlon`) and `signal` are everyday words, so they never count here.
pub fn channel_named_in(lower: &str) -> Option<&'static str> {
    const AMBIGUOUS: &[&str] = &["line", "irc", "zalo", "tlon", "signal", "webchat"];
    CHANNEL_IDS
        .iter()
        .copied()
        .filter(|c| !AMBIGUOUS.contains(c))
        .find(|c| contains_word(lower, c))
}

/// `needle` in `haystack` with no letter, digit, `-` or `_` right before or after it.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    haystack
        .match_indices(needle)
        .any(|(i, w)| !haystack[..i].ends_with(word_char) && !haystack[i + w.len()..].starts_with(word_char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_subsystem_names_map_to_their_channels() {
        for (subsystem, owner) in [
            ("gateway/channels/whatsapp", Owner::Channel("whatsapp")),
            ("gateway/channels/whatsapp/inbound", Owner::Channel("whatsapp")),
            ("gateway/channels/whatsapp/heartbeat", Owner::Channel("whatsapp")),
            ("channels/whatsapp", Owner::Channel("whatsapp")),
            ("whatsapp", Owner::Channel("whatsapp")),
            ("whatsapp/approvals", Owner::Channel("whatsapp")),
            ("web-reconnect", Owner::Channel("whatsapp")),
            ("gateway/channels/telegram/raw-update", Owner::Channel("telegram")),
            ("telegram/network", Owner::Channel("telegram")),
            ("channels/telegram", Owner::Channel("telegram")),
            ("channels/discord", Owner::Channel("discord")),
            ("channels/slack", Owner::Channel("slack")),
            ("channels/openclaw-weixin", Owner::Channel("openclaw-weixin")),
            ("channels", Owner::Generic),
            ("gateway", Owner::Generic),
            ("gateway/channels", Owner::Generic),
            ("", Owner::Generic),
            ("gateway/web-push", Owner::Other),
            ("plugins/runtime-channel", Owner::Other),
            ("agents/tools", Owner::Other),
            ("state/db", Owner::Other),
            ("openclaw", Owner::Other),
        ] {
            assert_eq!(owner_of_subsystem(subsystem), owner, "{subsystem}");
        }
    }

    #[test]
    fn channel_names_in_text_are_whole_words_and_never_everyday_words() {
        assert_eq!(channel_named_in("whatsapp session logged out"), Some("whatsapp"));
        assert_eq!(channel_named_in("the whatsapp-web bridge"), None);
        assert_eq!(channel_named_in("abort signal fired on line 3"), None);
        assert_eq!(channel_named_in("telegram getupdates conflict"), Some("telegram"));
    }
}
