using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Smp.Agent.Store;

/// <summary>Typed access to the store inside one transaction (see <see cref="AgentStore.TransactAsync{T}"/>).</summary>
public sealed class StoreTx
{
    private readonly SqliteTransaction _tx;
    private readonly PreparedCommands _commands;

    internal StoreTx(SqliteTransaction tx, PreparedCommands commands)
    {
        _tx = tx;
        _commands = commands;
    }

    internal static string Now() => Time(DateTime.UtcNow);

    /// <summary>A UTC time as the store keeps it: round-trip ISO 8601, so that text order is time order.</summary>
    internal static string Time(DateTime utc) => utc.ToString("O", CultureInfo.InvariantCulture);

    internal static DateTime ParseTime(string stored) => DateTime.Parse(stored, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    /// <summary>The store's prepared command for <paramref name="sql"/>, bound to this transaction and these arguments.</summary>
    private SqliteCommand Cmd(string sql, params (string Name, object? Value)[] args)
    {
        var cmd = _commands.Get(sql);
        cmd.Transaction = _tx;
        cmd.Parameters.Clear();
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    internal int Exec(string sql, params (string, object?)[] args) => Cmd(sql, args).ExecuteNonQuery();

    internal List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string, object?)[] args)
    {
        var cmd = Cmd(sql, args);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(map(r));
        return list;
    }

    internal static byte[]? BlobOrNull(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : (byte[])r[i];

    // --- connections ---

    public bool ConnectionExists(string alias) =>
        Query("SELECT 1 FROM connections WHERE alias = $a", _ => true, ("$a", alias)).Count > 0;

    public void InsertConnection(ConnectionRecord c) => Exec(
        "INSERT INTO connections (alias, kind, status, created_at, join_corr_id, owner) VALUES ($a, $k, $s, $t, $c, $o)",
        ("$a", c.Alias), ("$k", (int)c.Kind), ("$s", (int)c.Status), ("$t", Now()), ("$c", c.JoinCorrId), ("$o", c.Owner));

    public ConnectionRecord? GetConnection(string alias) => Query(
        "SELECT alias, kind, status, last_internal_id, last_snd_id, last_snd_hash, last_ext_snd_id, last_rcv_hash, join_corr_id, owner FROM connections WHERE alias = $a",
        MapConnection, ("$a", alias)).FirstOrDefault();

    public List<ConnectionRecord> ListConnections(ConnectionKind? kind = null) => Query(
        "SELECT alias, kind, status, last_internal_id, last_snd_id, last_snd_hash, last_ext_snd_id, last_rcv_hash, join_corr_id, owner FROM connections"
        + (kind is null ? "" : " WHERE kind = $k") + " ORDER BY alias",
        MapConnection, ("$k", (int?)kind));

    private static ConnectionRecord MapConnection(SqliteDataReader r) => new(
        r.GetString(0), (ConnectionKind)r.GetInt32(1), (ConnectionStatus)r.GetInt32(2), r.GetInt64(3), r.GetInt64(4),
        (byte[])r[5], r.GetInt64(6), (byte[])r[7], r.GetString(8), r.GetString(9));

    /// <summary>Where a connection's errors go: to its owner (a group) when it has one, else to itself.</summary>
    public string ErrorAlias(string alias) => GetConnection(alias) is { Owner.Length: > 0 } c ? c.Owner : alias;

    public void SetConnectionStatus(string alias, ConnectionStatus status) =>
        Exec("UPDATE connections SET status = $s WHERE alias = $a", ("$a", alias), ("$s", (int)status));

    /// <summary>
    /// Takes the next sender chain position for a message we send and, for a client's message, the next
    /// agent message id (SENT/R=); envelopes the agent sends on its own take none (0).
    /// </summary>
    public (long InternalId, long SndId, byte[] PrevHash) NextSndIds(string alias, bool clientMessage)
    {
        var c = GetConnection(alias) ?? throw new InvalidOperationException("no such connection");
        Exec("UPDATE connections SET last_internal_id = last_internal_id + $i, last_snd_id = last_snd_id + 1 WHERE alias = $a",
            ("$a", alias), ("$i", clientMessage ? 1 : 0));
        return (clientMessage ? c.LastInternalId + 1 : 0, c.LastSndId + 1, c.LastSndHash ?? []);
    }

    public void SetLastSndHash(string alias, byte[] hash) =>
        Exec("UPDATE connections SET last_snd_hash = $h WHERE alias = $a", ("$a", alias), ("$h", hash));

    /// <summary>
    /// Chain positions kept per connection in <c>rcv_chain</c> for recognising resent envelopes: more than
    /// any sender's window (<see cref="AgentOptions.SendWindow"/> is limited to it).
    /// </summary>
    public const int ReceivedChainKept = 1024;

    /// <summary>Records a received message in the chain and returns its agent message id (R=).</summary>
    public long RecordReceived(string alias, long externalId, byte[] hash)
    {
        RememberChain(alias, externalId, hash);
        Exec("UPDATE connections SET last_internal_id = last_internal_id + 1, last_ext_snd_id = $e, last_rcv_hash = $h WHERE alias = $a",
            ("$a", alias), ("$e", externalId), ("$h", hash));
        return GetConnection(alias)!.LastInternalId;
    }

    /// <summary>Moves the receive chain on for an envelope that is not a client message (no agent message id).</summary>
    public void RecordChain(string alias, long externalId, byte[] hash)
    {
        RememberChain(alias, externalId, hash);
        Exec("UPDATE connections SET last_ext_snd_id = $e, last_rcv_hash = $h WHERE alias = $a", ("$a", alias), ("$e", externalId), ("$h", hash));
    }

    private void RememberChain(string alias, long externalId, byte[] hash)
    {
        Exec("INSERT OR REPLACE INTO rcv_chain (alias, snd_id, hash) VALUES ($a, $e, $h)", ("$a", alias), ("$e", externalId), ("$h", hash));
        Exec("DELETE FROM rcv_chain WHERE alias = $a AND snd_id <= $e", ("$a", alias), ("$e", externalId - ReceivedChainKept));
    }

    /// <summary>True when the chain received an envelope with this sender id and plaintext hash recently.</summary>
    public bool ChainHolds(string alias, long externalId, byte[] hash) =>
        Query("SELECT 1 FROM rcv_chain WHERE alias = $a AND snd_id = $e AND hash = $h", _ => true, ("$a", alias), ("$e", externalId), ("$h", hash)).Count > 0;

    public void DeleteConnection(string alias)
    {
        Exec("DELETE FROM connections WHERE alias = $a", ("$a", alias));
        Exec("DELETE FROM events WHERE alias = $a AND corr_id = ''", ("$a", alias));
    }

    /// <summary>Envelopes held ahead of a connection's chain at most, and how far ahead one may be.</summary>
    public const int MaxHeld = 64;

    /// <summary>
    /// Holds an envelope that is ahead of the chain at <paramref name="lastId"/>; false when it may not wait: too
    /// far ahead, too many held, or the oldest held waited <paramref name="limit"/> already.
    /// </summary>
    public bool HoldAhead(string alias, HeldEnvelope e, long lastId, TimeSpan limit)
    {
        if (e.SndId - lastId > MaxHeld) return false;
        var (count, oldest) = Query("SELECT COUNT(*), MIN(held_at) FROM rcv_held WHERE alias = $a",
            r => (r.GetInt32(0), r.IsDBNull(1) ? (DateTime?)null : ParseTime(r.GetString(1))), ("$a", alias))[0];
        if (count >= MaxHeld || oldest <= DateTime.UtcNow - limit) return false;
        Exec("INSERT OR IGNORE INTO rcv_held (alias, snd_id, hash, broker_id, broker_ts, plaintext, held_at) VALUES ($a, $s, $h, $b, $t, $p, $at)",
            ("$a", alias), ("$s", e.SndId), ("$h", e.Hash), ("$b", e.BrokerId), ("$t", e.BrokerTs.ToString("O", CultureInfo.InvariantCulture)),
            ("$p", e.Plaintext), ("$at", Now()));
        return true;
    }

    /// <summary>The held envelope at <paramref name="sndId"/>, or the lowest one when null; it stays held.</summary>
    public HeldEnvelope? PeekHeld(string alias, long? sndId) =>
        Query("SELECT snd_id, hash, broker_id, broker_ts, plaintext FROM rcv_held WHERE alias = $a AND ($s IS NULL OR snd_id = $s) ORDER BY snd_id LIMIT 1",
            r => new HeldEnvelope(r.GetInt64(0), (byte[])r[1], (byte[])r[2], DateTimeOffset.Parse(r.GetString(3), CultureInfo.InvariantCulture), (byte[])r[4]),
            ("$a", alias), ("$s", sndId)).FirstOrDefault();

    public void DeleteHeld(string alias, long sndId) => Exec("DELETE FROM rcv_held WHERE alias = $a AND snd_id = $s", ("$a", alias), ("$s", sndId));

    public bool IsHeld(string alias, long sndId, byte[] hash) =>
        Query("SELECT 1 FROM rcv_held WHERE alias = $a AND snd_id = $s AND hash = $h", _ => true, ("$a", alias), ("$s", sndId), ("$h", hash)).Count > 0;

    /// <summary>Every connection with envelopes held, and when its oldest was held.</summary>
    public List<(string Alias, DateTime Since)> OldestHeldByAlias() => Query("SELECT alias, MIN(held_at) FROM rcv_held GROUP BY alias",
        r => (r.GetString(0), ParseTime(r.GetString(1))));

    public DateTime? OldestHeld(string alias) => Query("SELECT MIN(held_at) FROM rcv_held WHERE alias = $a",
        r => r.IsDBNull(0) ? (DateTime?)null : ParseTime(r.GetString(0)), ("$a", alias))[0];

    // --- queues ---

    public void InsertRcvQueue(RcvQueueRecord q) => Exec(
        "INSERT INTO rcv_queues (alias, server, rcv_id, snd_id, rcv_key, decrypt_key, encrypt_key, sender_key, verify_key, status) VALUES ($a, $s, $r, $i, $k, $d, $e, $sk, $v, $st)",
        ("$a", q.Alias), ("$s", q.Server), ("$r", q.RcvId), ("$i", q.SndId), ("$k", q.RcvKey), ("$d", q.DecryptKey), ("$e", q.EncryptKey),
        ("$sk", q.SenderKey), ("$v", q.VerifyKey), ("$st", (int)q.Status));

    private const string RcvColumns = "alias, server, rcv_id, snd_id, rcv_key, decrypt_key, encrypt_key, sender_key, verify_key, status";

    private static RcvQueueRecord MapRcv(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), (byte[])r[2], (byte[])r[3], (byte[])r[4], (byte[])r[5], (byte[])r[6], BlobOrNull(r, 7), BlobOrNull(r, 8), (QueueStatus)r.GetInt32(9));

    public RcvQueueRecord? GetRcvQueue(string alias) =>
        Query($"SELECT {RcvColumns} FROM rcv_queues WHERE alias = $a", MapRcv, ("$a", alias)).FirstOrDefault();

    public RcvQueueRecord? FindRcvQueue(string server, byte[] rcvId) =>
        Query($"SELECT {RcvColumns} FROM rcv_queues WHERE server = $s AND rcv_id = $r", MapRcv, ("$s", server), ("$r", rcvId)).FirstOrDefault();

    public List<RcvQueueRecord> ListRcvQueues() => Query($"SELECT {RcvColumns} FROM rcv_queues", MapRcv);

    public void UpdateRcvQueue(string alias, QueueStatus status, byte[]? senderKey = null, byte[]? verifyKey = null) => Exec(
        "UPDATE rcv_queues SET status = $st, sender_key = COALESCE($sk, sender_key), verify_key = COALESCE($v, verify_key) WHERE alias = $a",
        ("$a", alias), ("$st", (int)status), ("$sk", senderKey), ("$v", verifyKey));

    public void InsertSndQueue(SndQueueRecord q) => Exec(
        "INSERT INTO snd_queues (alias, server, snd_id, snd_key, encrypt_key, sign_key, status) VALUES ($a, $s, $i, $k, $e, $g, $st)",
        ("$a", q.Alias), ("$s", q.Server), ("$i", q.SndId), ("$k", q.SndKey), ("$e", q.EncryptKey), ("$g", q.SignKey), ("$st", (int)q.Status));

    public SndQueueRecord? GetSndQueue(string alias) => Query(
        "SELECT alias, server, snd_id, snd_key, encrypt_key, sign_key, status FROM snd_queues WHERE alias = $a",
        r => new SndQueueRecord(r.GetString(0), r.GetString(1), (byte[])r[2], (byte[])r[3], (byte[])r[4], (byte[])r[5], (QueueStatus)r.GetInt32(6)),
        ("$a", alias)).FirstOrDefault();

    public bool HasSndQueue(string alias) => Query("SELECT 1 FROM snd_queues WHERE alias = $a", _ => true, ("$a", alias)).Count > 0;

    public void SetSndQueueStatus(string alias, QueueStatus status) =>
        Exec("UPDATE snd_queues SET status = $st WHERE alias = $a", ("$a", alias), ("$st", (int)status));

    // --- jobs (the persistent outbox) ---

    public long InsertJob(string alias, JobKind kind, byte[]? body = null, string corrId = "", long msgId = 0)
    {
        Exec("INSERT INTO jobs (alias, kind, corr_id, msg_id, body, created_at) VALUES ($a, $k, $c, $m, $b, $t)",
            ("$a", alias), ("$k", (int)kind), ("$c", corrId), ("$m", msgId), ("$b", body ?? []), ("$t", Now()));
        return LastInsertId();
    }

    internal long LastInsertId() => Query("SELECT last_insert_rowid()", r => r.GetInt64(0))[0];

    private static JobRecord MapJob(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), (JobKind)r.GetInt32(2), r.GetString(3), r.GetInt64(4), (byte[])r[5], r.GetInt32(6));

    /// <summary>Up to <paramref name="limit"/> oldest jobs of a connection, in order: jobs of one connection run strictly in order.</summary>
    public List<JobRecord> NextJobs(string alias, int limit) => Query(
        "SELECT id, alias, kind, corr_id, msg_id, body, attempts FROM jobs WHERE alias = $a ORDER BY id LIMIT $n", MapJob, ("$a", alias), ("$n", limit));

    public List<string> AliasesWithJobs() => Query("SELECT DISTINCT alias FROM jobs", r => r.GetString(0));

    public void DeleteJobs(string alias) => Exec("DELETE FROM jobs WHERE alias = $a", ("$a", alias));

    public void DeleteJob(long id) => Exec("DELETE FROM jobs WHERE id = $i", ("$i", id));

    public void ReplaceJob(long id, JobKind kind, byte[] body) =>
        Exec("UPDATE jobs SET kind = $k, body = $b, attempts = 0 WHERE id = $i", ("$i", id), ("$k", (int)kind), ("$b", body));

    public bool HasJob(string alias, JobKind kind) =>
        Query("SELECT 1 FROM jobs WHERE alias = $a AND kind = $k LIMIT 1", _ => true, ("$a", alias), ("$k", (int)kind)).Count > 0;

    /// <summary>Every job of a connection but those of <paramref name="kept"/>.</summary>
    public void DeleteJobsExcept(string alias, JobKind kept) =>
        Exec("DELETE FROM jobs WHERE alias = $a AND kind <> $k", ("$a", alias), ("$k", (int)kept));

    public void CountJobAttempt(long id) => Exec("UPDATE jobs SET attempts = attempts + 1 WHERE id = $i", ("$i", id));

    /// <summary>
    /// What the metrics report of the store (docs/agent.md, "Metrics"): connections by status, jobs and
    /// stored events. Three counts over the primary keys; the caller caches the answer between scrapes.
    /// </summary>
    public StoreCounts Counts()
    {
        var byStatus = Query("SELECT status, COUNT(*) FROM connections GROUP BY status",
            r => ((ConnectionStatus)r.GetInt32(0), r.GetInt64(1))).ToDictionary(p => p.Item1, p => p.Item2);
        var jobs = Query("SELECT COUNT(*) FROM jobs", r => r.GetInt64(0))[0];
        var events = Query("SELECT COUNT(*) FROM events", r => r.GetInt64(0))[0];
        return new StoreCounts(byStatus, jobs, events);
    }

    // --- events waiting for a client ---

    public long InsertEvent(string alias, string corrId, byte[] payload)
    {
        Exec("INSERT INTO events (alias, corr_id, payload) VALUES ($a, $c, $p)", ("$a", alias), ("$c", corrId), ("$p", payload));
        return LastInsertId();
    }

    public List<EventRecord> PendingEvents(string alias) => Query(
        "SELECT id, alias, corr_id, payload FROM events WHERE alias = $a ORDER BY id",
        r => new EventRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), (byte[])r[3]), ("$a", alias));

    public void DeleteEvent(long id) => Exec("DELETE FROM events WHERE id = $i", ("$i", id));

    // --- duplicate suppression by server message id (agent.md §5) ---

    /// <summary>
    /// Forgets server message ids seen before <paramref name="before"/>: a relay redelivers only messages it
    /// still holds, and it expires them (30 days by default), so older ids can never come back.
    /// </summary>
    public int PruneSeen(DateTime before) =>
        Exec("DELETE FROM rcv_seen WHERE seen_at < $t", ("$t", Time(before.ToUniversalTime())));

    /// <summary>Records a server message id; false when it was seen before on this connection.</summary>
    public bool MarkSeen(string alias, byte[] brokerId) =>
        Exec("INSERT OR IGNORE INTO rcv_seen (alias, broker_id, seen_at) VALUES ($a, $b, $t)", ("$a", alias), ("$b", brokerId), ("$t", Now())) == 1;
}

/// <summary>
/// Commands by their SQL, kept prepared across transactions: parsing and preparing a statement costs more
/// than running most of ours. Used under the store's gate only, like the connection they belong to.
/// </summary>
internal sealed class PreparedCommands(SqliteConnection db) : IDisposable
{
    /// <summary>Our statements are constants (a few with variants); more than this means something builds SQL.</summary>
    private const int Limit = 512;

    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public SqliteCommand Get(string sql)
    {
        if (_commands.TryGetValue(sql, out var cmd)) return cmd;
        if (_commands.Count >= Limit) Dispose();
        cmd = db.CreateCommand();
        cmd.CommandText = sql;
        _commands[sql] = cmd;
        return cmd;
    }

    public void Dispose()
    {
        foreach (var cmd in _commands.Values) cmd.Dispose();
        _commands.Clear();
    }
}
