"""Lua scripts: each is one atomic decision over one conversation's keys (one hash tag).

A bot turn is two round trips: CLAIM (de-duplicate, lock, load) and SAVE (store state,
append to the transcript, remember the message id, unlock, announce).
"""

from bot.store import keys

# KEYS: conversation, lock, seen, log.  ARGV: token, message id ("" for none); the lock's
# lifetime (keys.LOCK_TTL_MS) is written in.
# Returns {"dup", state, entries} when the message id was handled already (entries are what
# it produced, to answer the same again), {"busy"} when another turn holds the conversation,
# else {"ok", state} with state "" for a conversation that does not exist yet.
_CLAIM = """
local conversation, lock, seen, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, message_id, lock_ms = ARGV[1], ARGV[2], @LOCK_MS@
if message_id ~= '' then
  local range = redis.call('HGET', seen, message_id)
  if range then
    local first, last = string.match(range, '^(%d+) (%d+)$')
    local entries = redis.call('XRANGE', log, first .. '-0', last .. '-0')
    return {'dup', redis.call('HGET', conversation, 's') or '', entries}
  end
end
if not redis.call('SET', lock, token, 'NX', 'PX', lock_ms) then
  return {'busy'}
end
return {'ok', redis.call('HGET', conversation, 's') or ''}
"""
CLAIM = _CLAIM.replace("@LOCK_MS@", str(keys.LOCK_TTL_MS))


# KEYS: conversation, lock, seen, log.
# ARGV: token ("" when no turn holds the lock), state JSON ("" to leave the state alone),
#       message id ("" for none), conversation id, then one JSON entry per transcript line.
# The ttl (s), log maxlen, seen ttl (s) and the events channel are written into the script
# by `save_script`: they never change for a store, and every argument costs encoding time
# on every turn.
# Returns the seq of the first appended entry (last seq + 1 when none were appended), or the
# error LOCK_LOST when the turn's lock expired and another turn may have moved on: its state
# is stale and must not overwrite the newer one (fencing).
_SAVE = """
local conversation, lock, seen, log = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, state, message_id, conversation_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, maxlen, seen_ttl, channel = @TTL@, @MAXLEN@, @SEEN_TTL@, '@CHANNEL@'
if token ~= '' and redis.call('GET', lock) ~= token then
  return redis.error_reply('LOCK_LOST')
end
local seq = tonumber(redis.call('HGET', conversation, 'q') or '0')
if seq == 0 then
  -- The hash is gone (evicted) but the transcript may not be: never reuse its ids.
  local newest = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]
  if newest then seq = tonumber(string.match(newest[1], '^(%d+)')) end
end
local first = seq + 1
for i = 5, #ARGV do
  seq = seq + 1
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, seq .. '-0', 'e', ARGV[i])
end
if state ~= '' then
  redis.call('HSET', conversation, 's', state, 'q', seq)
else
  redis.call('HSET', conversation, 'q', seq)
end
redis.call('EXPIRE', conversation, ttl)
if seq >= first then
  redis.call('EXPIRE', log, ttl)
  if message_id ~= '' then
    redis.call('HSET', seen, message_id, first .. ' ' .. seq)
    redis.call('EXPIRE', seen, seen_ttl)
    -- Forget ids whose entries the transcript no longer holds, now and then (amortised).
    if redis.call('HLEN', seen) > 2 * maxlen then
      local pairs = redis.call('HGETALL', seen)
      for i = 1, #pairs, 2 do
        local last = tonumber(string.match(pairs[i + 1], ' (%d+)$'))
        if last <= seq - maxlen then redis.call('HDEL', seen, pairs[i]) end
      end
    end
  end
  redis.call('PUBLISH', channel, conversation_id .. ' ' .. seq)
end
if token ~= '' then
  redis.call('DEL', lock)
end
return first
"""


def save_script(ttl_s: int, maxlen: int, seen_ttl_s: int, channel: str) -> str:
    """SAVE with a store's fixed settings written in."""
    if not channel.replace(":", "").replace("_", "").isalnum():
        raise ValueError(f"channel {channel!r} must be plain letters, digits, ':' and '_'")
    return (
        _SAVE.replace("@TTL@", str(int(ttl_s)))
        .replace("@MAXLEN@", str(int(maxlen)))
        .replace("@SEEN_TTL@", str(int(seen_ttl_s)))
        .replace("@CHANNEL@", channel)
    )


# KEYS: lock.  ARGV: token.  Frees the lock of a turn that failed before saving.
RELEASE = """
local lock, token = KEYS[1], ARGV[1]
if redis.call('GET', lock) == token then
  return redis.call('DEL', lock)
end
return 0
"""
