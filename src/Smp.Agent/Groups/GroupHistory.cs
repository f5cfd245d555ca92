using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>One message of a group's history: its author's member id, the author's time and the G_MSG itself.</summary>
internal sealed record HistoryEntry(byte[] AuthorId, DateTimeOffset AuthorTs, AgentEnvelope.GMsg Message);

/// <summary>
/// The group's last messages (migration 8, groups.md §6.6.1–2): what an inviter gives a newcomer, and what an
/// introducer replays to a member that could not be told of an author yet. Also what a newcomer has taken as
/// history so far, for the cap on it.
/// </summary>
internal static class GroupHistoryTables
{
    /// <summary>Keeps a message, then only the <paramref name="keep"/> newest of the group; 0 keeps none.</summary>
    public static void AppendHistory(this StoreTx tx, string gid, byte[] authorId, DateTimeOffset ts, AgentEnvelope.GMsg m, int keep)
    {
        if (keep <= 0) return;
        tx.Exec("INSERT INTO group_history (group_alias, author_id, ts, msg_id, seq, prev_hash, body) VALUES ($g, $a, $t, $i, $q, $p, $b)",
            ("$g", gid), ("$a", authorId), ("$t", StoreTx.Time(ts.UtcDateTime)), ("$i", m.GroupMsgId), ("$q", m.AuthorSeq), ("$p", m.PrevHash), ("$b", m.Body.ToArray()));
        tx.Exec("""
            DELETE FROM group_history WHERE group_alias = $g AND id NOT IN
                (SELECT id FROM group_history WHERE group_alias = $g ORDER BY id DESC LIMIT $n)
            """, ("$g", gid), ("$n", keep));
    }

    /// <summary>The group's history, oldest first; only the messages of <paramref name="authorId"/> when given.</summary>
    public static List<HistoryEntry> ListHistory(this StoreTx tx, string gid, byte[]? authorId = null) => tx.Query(
        "SELECT author_id, ts, msg_id, seq, prev_hash, body FROM group_history WHERE group_alias = $g AND ($a IS NULL OR author_id = $a) ORDER BY id",
        r => new HistoryEntry((byte[])r[0], new DateTimeOffset(StoreTx.ParseTime(r.GetString(1)), TimeSpan.Zero),
            new AgentEnvelope.GMsg((byte[])r[2], r.GetInt64(3), (byte[])r[4], (byte[])r[5])),
        ("$g", gid), ("$a", authorId));

    /// <summary>
    /// A member record just made for <paramref name="authorId"/>: the messages of it we took as history while
    /// we had no record of it count as seen, so a copy forwarded or replayed later is dropped (§6.6.2).
    /// </summary>
    public static void MarkHistorySeen(this StoreTx tx, string gid, byte[] authorId, long memberRow) => tx.Exec(
        "INSERT OR IGNORE INTO group_seen (member, msg_id) SELECT $m, msg_id FROM group_history WHERE group_alias = $g AND author_id = $a",
        ("$m", memberRow), ("$g", gid), ("$a", authorId));

    public static void DeleteGroupHistory(this StoreTx tx, string gid)
    {
        tx.Exec("DELETE FROM group_history WHERE group_alias = $g", ("$g", gid));
        tx.Exec("DELETE FROM group_history_in WHERE group_alias = $g", ("$g", gid));
    }

    /// <summary>At a newcomer: how many G_HIST it accepted from its inviter, and whether G_ALL has ended them.</summary>
    public static (long Received, bool Closed) HistoryIn(this StoreTx tx, string gid) => tx.Query(
        "SELECT received, closed FROM group_history_in WHERE group_alias = $g", r => (r.GetInt64(0), r.GetInt32(1) != 0), ("$g", gid))
        .FirstOrDefault();

    public static void CountHistoryIn(this StoreTx tx, string gid) => tx.Exec(
        "INSERT INTO group_history_in (group_alias, received) VALUES ($g, 1) ON CONFLICT (group_alias) DO UPDATE SET received = received + 1", ("$g", gid));

    public static void CloseHistoryIn(this StoreTx tx, string gid) => tx.Exec(
        "INSERT INTO group_history_in (group_alias, closed) VALUES ($g, 1) ON CONFLICT (group_alias) DO UPDATE SET closed = 1", ("$g", gid));
}
