"""Lua scripts of the case store: each is one decision over one case's keys (one hash tag)."""

# KEYS: case, events.  ARGV: ttl s, time, actor, note, then field/value pairs.
# Returns 0 (nothing written) when the number is taken already, else 1.
OPEN = """
local case, events = KEYS[1], KEYS[2]
local ttl, ts, actor, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', case) == 1 then return 0 end
redis.call('HSET', case, unpack(ARGV, 5))
redis.call('XADD', events, '*', 'ts', ts, 'actor', actor, 'from', '', 'to', 'received',
  'note', note)
redis.call('EXPIRE', case, ttl)
redis.call('EXPIRE', events, ttl)
return 1
"""

# KEYS: case, events.  ARGV: target state, the states it may come from (space-separated),
#       actor, note, time, ttl s, release ("1": the case's callback case was resolved).
# A case with an open callback case is held: it may not close until the callback resolves.
# Returns {"missing"}, {"illegal", from}, {"held", from} or {"ok", from, the case's fields}.
MOVE = """
local case, events = KEYS[1], KEYS[2]
local to, allowed, actor, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ts, ttl, release = ARGV[5], ARGV[6], ARGV[7]
local from = redis.call('HGET', case, 'state')
if not from then return {'missing'} end
if release == '1' then redis.call('HSET', case, 'callback_done', '1') end
if not string.find(' ' .. allowed .. ' ', ' ' .. from .. ' ', 1, true) then
  return {'illegal', from}
end
if to == 'closed' and redis.call('HEXISTS', case, 'callback') == 1
    and redis.call('HGET', case, 'callback_done') ~= '1' then
  return {'held', from}
end
redis.call('HSET', case, 'state', to, 'updated', ts)
redis.call('XADD', events, '*', 'ts', ts, 'actor', actor, 'from', from, 'to', to, 'note', note)
redis.call('EXPIRE', case, ttl)
redis.call('EXPIRE', events, ttl)
return {'ok', from, redis.call('HGETALL', case)}
"""

# KEYS: case.  ARGV: ttl s, number of fields to set, field/value pairs, fields to delete.
# Returns the case's fields after the change, or an empty list when there is no such case.
SET_FIELDS = """
local case, ttl, count = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', case) == 0 then return {} end
if count > 0 then redis.call('HSET', case, unpack(ARGV, 3, 2 + 2 * count)) end
if #ARGV > 2 + 2 * count then redis.call('HDEL', case, unpack(ARGV, 3 + 2 * count)) end
redis.call('EXPIRE', case, ttl)
return redis.call('HGETALL', case)
"""

# KEYS: case.  ARGV: rating, time.  Rates a resolved case once: returns "ok", "missing",
# "rated" (it has a rating already) or the case's state when that is not "resolved".
RATE = """
local case, rating, ts = KEYS[1], ARGV[1], ARGV[2]
local state = redis.call('HGET', case, 'state')
if not state then return 'missing' end
if redis.call('HEXISTS', case, 'rating') == 1 then return 'rated' end
if state ~= 'resolved' then return state end
redis.call('HSET', case, 'rating', rating, 'updated', ts)
return 'ok'
"""

# KEYS: the customer's complaint index.  ARGV: since (epoch s).  How many complaints the
# customer opened since then (the repeat rule). A script so that it rides the turns' pipeline.
COUNT_SINCE = """
local complaints, since = KEYS[1], ARGV[1]
return redis.call('ZCOUNT', complaints, since, '+inf')
"""

# KEYS: the customer's case index, their complaint index.  ARGV: number, created (epoch s),
# kind, customer ttl s, forget before (epoch s).  Files a new case under its customer; a
# complaint also goes into the index the repeat rule reads, which forgets what the cases
# outlived. One customer's keys share a hash tag, so this is cluster-safe.
INDEX = """
local cases, complaints = KEYS[1], KEYS[2]
local number, created, kind, ttl, forget = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('ZADD', cases, created, number)
redis.call('EXPIRE', cases, ttl)
if kind == 'complaint' then
  redis.call('ZADD', complaints, created, number)
  redis.call('ZREMRANGEBYSCORE', complaints, '-inf', forget)
  redis.call('EXPIRE', complaints, ttl)
end
return 1
"""

# KEYS: case, events.  ARGV: field, due name, time, note, ttl s.
# Adds the due name to the space-separated list in `field` unless it is there already, with
# an archive event by "sla" that leaves the state as it is. The SLA clock alerts only when
# this returns 1, so an alert goes out once whoever asks twice. Returns -1 when there is no
# such case, 0 when the due was marked already, 1 when it is marked now.
MARK_SLA = """
local case, events = KEYS[1], KEYS[2]
local field, due, ts, note, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local state = redis.call('HGET', case, 'state')
if not state then return -1 end
local marked = redis.call('HGET', case, field) or ''
if string.find(' ' .. marked .. ' ', ' ' .. due .. ' ', 1, true) then return 0 end
if marked ~= '' then marked = marked .. ' ' end
redis.call('HSET', case, field, marked .. due)
redis.call('XADD', events, '*', 'ts', ts, 'actor', 'sla', 'from', state, 'to', state,
  'note', note)
redis.call('EXPIRE', case, ttl)
redis.call('EXPIRE', events, ttl)
return 1
"""
