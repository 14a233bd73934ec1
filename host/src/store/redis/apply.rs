//! One atomic, checked write: the only way the Redis store changes data.
//!
//! A [`Change`] is built from what the caller read (phase one, plain reads)
//! and runs as one Lua script (phase two): the script refuses it when the
//! run's fencing token is no longer the live lock's, or when any value it was
//! based on changed meanwhile (compare-and-set), and otherwise runs every
//! command. So a step that touches many keys either happens whole, on the
//! state it was computed from, or not at all — never a read-then-write race.
//!
//! Keys are passed as arguments, not `KEYS`: the store targets a single Redis
//! (or a primary with replicas), not Redis Cluster.

use std::collections::HashMap;

use redis::{Script, Value};

use crate::store::{Fence, StoreError};

/// Checks the fence, then the expected values, then runs the commands.
const APPLY: &str = r#"
local lock_key = ARGV[1]
if lock_key ~= '' then
  local lease = redis.call('GET', lock_key)
  if not lease or string.match(lease, '^(%d+)|') ~= ARGV[2] then
    return redis.error_reply('FENCED')
  end
end
local i = 4
for c = 1, tonumber(ARGV[3]) do
  local key, field, present, expected = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  local actual
  if field == '' then actual = redis.call('GET', key) else actual = redis.call('HGET', key, field) end
  if present == '0' then
    if actual then return redis.error_reply('CONFLICT ' .. c) end
  elseif actual ~= expected then
    return redis.error_reply('CONFLICT ' .. c)
  end
end
local commands = tonumber(ARGV[i])
i = i + 1
for _ = 1, commands do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + 1 + n
end
return commands
"#;

/// What a failed check means.
#[derive(Debug, Clone)]
enum OnConflict {
    /// Another writer got there first: recompute from fresh reads.
    Retry,
    /// A unique name is taken.
    Taken { what: &'static str, value: String },
}

#[derive(Debug, Clone)]
struct Check {
    key: String,
    /// Empty for a plain string key.
    field: String,
    expected: Option<String>,
    on_conflict: OnConflict,
}

/// Why [`Change::apply`] did not write.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// A value it was computed from changed: read again and rebuild.
    Conflict,
    /// Fenced, a unique name taken, or a backend failure.
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Commands whose arguments after the key are a list of independent items
/// (fields with values, members with scores), so two of them on one key can
/// be one command.
const VARIADIC: &[&str] = &["HSET", "HDEL", "ZADD", "ZREM", "SADD", "SREM"];

/// The most parts one merged command gets: Lua's `unpack` stops at 8000.
const MAX_PARTS: usize = 4000;

/// One atomic write under construction.
#[derive(Debug, Default)]
pub(crate) struct Change {
    fence: Option<(String, Fence)>,
    checks: Vec<Check>,
    commands: Vec<Vec<String>>,
    /// The last command on each key, which a following write of the same
    /// kind to that key joins.
    last_on_key: HashMap<String, usize>,
}

impl Change {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Refused unless `fence` holds the lock stored at `lock_key`.
    pub(crate) fn fenced(lock_key: String, fence: &Fence) -> Self {
        Self {
            fence: Some((lock_key, fence.clone())),
            ..Self::default()
        }
    }

    /// Requires hash field `key[field]` to still be `expected` (`None`: absent).
    pub(crate) fn expect(&mut self, key: &str, field: &str, expected: Option<&str>) -> &mut Self {
        self.checks.push(Check {
            key: key.to_owned(),
            field: field.to_owned(),
            expected: expected.map(str::to_owned),
            on_conflict: OnConflict::Retry,
        });
        self
    }

    /// Requires the unique name `key[field]` to be free or owned by `owner`;
    /// refused as [`StoreError::AlreadyExists`] otherwise. `current` is what
    /// was read.
    pub(crate) fn claim(
        &mut self,
        key: &str,
        name: &str,
        current: Option<&str>,
        what: &'static str,
    ) -> &mut Self {
        self.checks.push(Check {
            key: key.to_owned(),
            field: name.to_owned(),
            expected: current.map(str::to_owned),
            on_conflict: OnConflict::Taken {
                what,
                value: name.to_owned(),
            },
        });
        self
    }

    /// Adds a command (`["HSET", key, field, value]`). A write that follows
    /// one of the same kind on the same key, with no other command on that
    /// key in between, joins it: a page of objects then costs a few
    /// variadic commands instead of several per object. The order of the
    /// commands on each key is kept, and every command is a blind write, so
    /// the result is the same.
    pub(crate) fn command<S: Into<String>>(
        &mut self,
        parts: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        let parts: Vec<String> = parts.into_iter().map(Into::into).collect();
        let Some(key) = parts.get(1) else {
            self.commands.push(parts);
            return self;
        };
        if let Some(&last) = self.last_on_key.get(key) {
            let previous = &mut self.commands[last];
            if previous[0] == parts[0]
                && VARIADIC.contains(&parts[0].as_str())
                && previous.len() + parts.len() - 2 <= MAX_PARTS
            {
                previous.extend(parts.into_iter().skip(2));
                return self;
            }
        }
        self.last_on_key.insert(key.clone(), self.commands.len());
        self.commands.push(parts);
        self
    }

    /// Runs the change as one script.
    pub(crate) async fn apply(
        &self,
        connection: &mut deadpool_redis::Connection,
    ) -> Result<(), ApplyError> {
        if self.commands.is_empty() && self.fence.is_none() {
            return Ok(());
        }
        let script = script();
        let mut invocation = script.prepare_invoke();
        match &self.fence {
            Some((lock_key, fence)) => invocation.arg(lock_key).arg(fence.token.to_string()),
            None => invocation.arg("").arg(""),
        };
        invocation.arg(self.checks.len());
        for check in &self.checks {
            invocation
                .arg(&check.key)
                .arg(&check.field)
                .arg(if check.expected.is_some() { "1" } else { "0" })
                .arg(check.expected.as_deref().unwrap_or(""));
        }
        invocation.arg(self.commands.len());
        for command in &self.commands {
            invocation.arg(command.len());
            for part in command {
                invocation.arg(part);
            }
        }
        match invocation.invoke_async::<Value>(connection).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(e)),
        }
    }

    fn explain(&self, error: redis::RedisError) -> ApplyError {
        let text = error.to_string();
        if text.contains("FENCED") {
            let fence = self
                .fence
                .as_ref()
                .map(|(_, f)| f.clone())
                .unwrap_or(Fence {
                    sync_config_id: String::new(),
                    token: 0,
                });
            return ApplyError::Store(StoreError::Fenced {
                sync_config_id: fence.sync_config_id,
                token: fence.token,
            });
        }
        // The reply `CONFLICT <n>` reads back as "CONFLICT: <n>".
        if let Some(index) = text.split_once("CONFLICT").and_then(|(_, rest)| {
            let digits: String = rest
                .trim_start_matches([':', ' '])
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        }) {
            return match self
                .checks
                .get(index.wrapping_sub(1))
                .map(|c| &c.on_conflict)
            {
                Some(OnConflict::Taken { what, value }) => {
                    ApplyError::Store(StoreError::AlreadyExists {
                        what,
                        value: value.clone(),
                    })
                }
                _ => ApplyError::Conflict,
            };
        }
        ApplyError::Store(backend(error))
    }
}

fn script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(APPLY))
}

/// A Redis failure as a store error.
pub(crate) fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("redis: {error}"))
}

/// How many times a change is rebuilt after conflicting writes before the
/// store gives up (each rebuild re-reads; a conflict means progress elsewhere).
pub(crate) const CONFLICT_RETRIES: usize = 50;

/// Runs `attempt` (read, build, apply) until it does not conflict.
pub(crate) async fn with_retries<T, F, Fut>(
    operation: &str,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApplyError>>,
{
    for _ in 0..CONFLICT_RETRIES {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(ApplyError::Conflict) => tokio::task::yield_now().await,
            Err(ApplyError::Store(e)) => return Err(e),
        }
    }
    Err(StoreError::Backend(format!(
        "{operation}: gave up after {CONFLICT_RETRIES} conflicting concurrent writes"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(change: &Change) -> Vec<String> {
        change.commands.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn writes_of_one_kind_to_one_key_join() {
        let mut change = Change::new();
        change
            .command(["HSET", "objects", "o1", "{1}"])
            .command(["ZADD", "keys", "0", "a"])
            .command(["HSET", "objects", "o2", "{2}"])
            .command(["ZADD", "keys", "0", "b"])
            .command(["XADD", "stream", "*", "n", "1"])
            .command(["XADD", "stream", "*", "n", "2"]);
        assert_eq!(
            commands(&change),
            [
                "HSET objects o1 {1} o2 {2}",
                "ZADD keys 0 a 0 b",
                "XADD stream * n 1",
                "XADD stream * n 2",
            ]
        );
    }

    #[test]
    fn another_command_on_the_key_keeps_the_order() {
        let mut change = Change::new();
        change
            .command(["HSET", "seen", "o1", "job1"])
            .command(["HDEL", "seen", "o1"])
            .command(["HSET", "seen", "o1", "job2"]);
        assert_eq!(
            commands(&change),
            ["HSET seen o1 job1", "HDEL seen o1", "HSET seen o1 job2"]
        );
    }

    #[test]
    fn a_joined_command_stays_within_what_lua_can_unpack() {
        let mut change = Change::new();
        for i in 0..5000 {
            change.command(["HSET", "objects", &format!("o{i}"), "{}"]);
        }
        assert!(change.commands.len() > 1);
        assert!(change.commands.iter().all(|c| c.len() <= MAX_PARTS));
        let fields: usize = change.commands.iter().map(|c| (c.len() - 2) / 2).sum();
        assert_eq!(fields, 5000);
    }
}
