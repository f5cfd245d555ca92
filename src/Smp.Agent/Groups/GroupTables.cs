using Microsoft.Data.Sqlite;
using Smp.Agent.Store;

namespace Smp.Agent.Groups;

/// <summary>
/// The group layer's tables (migration 2), queried inside the connection store's transactions. Only the
/// group layer uses them; the connection layer below never reads a group table.
/// </summary>
internal static class GroupTables
{
    private const string GroupColumns = "alias, group_id, member_id, clvl, info, status, inviter_conn, last_seq, last_hash";

    private static GroupRecord MapGroup(SqliteDataReader r) => new(
        r.GetString(0), (byte[])r[1], (byte[])r[2], r.GetInt32(3), (byte[])r[4], (GroupStatus)r.GetInt32(5), r.GetString(6), r.GetInt64(7), (byte[])r[8]);

    public static void InsertGroup(this StoreTx tx, GroupRecord g) => tx.Exec(
        "INSERT INTO groups (alias, group_id, member_id, clvl, info, status, inviter_conn, created_at) VALUES ($a, $g, $m, $c, $i, $s, $v, $t)",
        ("$a", g.Alias), ("$g", g.GroupId), ("$m", g.MemberId), ("$c", g.Clvl), ("$i", g.Info), ("$s", (int)g.Status), ("$v", g.InviterConn), ("$t", StoreTx.Now()));

    public static GroupRecord? GetGroup(this StoreTx tx, string alias) =>
        tx.Query($"SELECT {GroupColumns} FROM groups WHERE alias = $a", MapGroup, ("$a", alias)).FirstOrDefault();

    public static GroupRecord? FindGroupById(this StoreTx tx, byte[] groupId) =>
        tx.Query($"SELECT {GroupColumns} FROM groups WHERE group_id = $g", MapGroup, ("$g", groupId)).FirstOrDefault();

    public static List<GroupRecord> ListGroups(this StoreTx tx) => tx.Query($"SELECT {GroupColumns} FROM groups ORDER BY alias", MapGroup);

    public static bool GroupExists(this StoreTx tx, string alias) => tx.Query("SELECT 1 FROM groups WHERE alias = $a", _ => true, ("$a", alias)).Count > 0;

    /// <summary>
    /// Forgets a group and everything about its members (cascade); its connections go by their own jobs. The
    /// ids of the messages it had (seen, or kept as history, ours among them) stay, by group id and author,
    /// for a later membership of the same group (seed 433).
    /// </summary>
    public static void DeleteGroup(this StoreTx tx, string alias)
    {
        tx.Exec("""
            INSERT OR IGNORE INTO group_seen_before (group_id, author_id, msg_id)
            SELECT g.group_id, m.member_id, s.msg_id FROM group_seen s JOIN members m ON m.id = s.member JOIN groups g ON g.alias = m.group_alias
            WHERE g.alias = $a AND m.member_id IS NOT NULL
            """, ("$a", alias));
        tx.Exec("""
            INSERT OR IGNORE INTO group_seen_before (group_id, author_id, msg_id)
            SELECT g.group_id, h.author_id, h.msg_id FROM group_history h JOIN groups g ON g.alias = h.group_alias WHERE g.alias = $a
            """, ("$a", alias));
        tx.Exec("DELETE FROM introductions WHERE group_alias = $a", ("$a", alias));
        tx.DeleteGroupHistory(alias);
        tx.Exec("DELETE FROM members WHERE group_alias = $a", ("$a", alias));
        tx.Exec("DELETE FROM groups WHERE alias = $a", ("$a", alias));
    }

    public static void SetGroupStatus(this StoreTx tx, string alias, GroupStatus status) =>
        tx.Exec("UPDATE groups SET status = $s WHERE alias = $a", ("$a", alias), ("$s", (int)status));

    public static void SetGroupChain(this StoreTx tx, string alias, long seq, byte[] hash) =>
        tx.Exec("UPDATE groups SET last_seq = $q, last_hash = $h WHERE alias = $a", ("$a", alias), ("$q", seq), ("$h", hash));

    // --- members ---

    private const string MemberColumns =
        "id, group_alias, member_id, direct_alias, group_conn, clvl, status, invited_by_us, inv_id, intro_id, introducer_conn, hello_sent, all_sent, last_seq, last_hash, chain_known";

    private static MemberRecord MapMember(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), StoreTx.BlobOrNull(r, 2), r.GetString(3), r.GetString(4), r.GetInt32(5), (MemberStatus)r.GetInt32(6),
        r.GetInt32(7) != 0, StoreTx.BlobOrNull(r, 8), StoreTx.BlobOrNull(r, 9), r.GetString(10), r.GetInt32(11) != 0, r.GetInt32(12) != 0, r.GetInt64(13), (byte[])r[14],
        r.GetInt32(15) != 0);

    public static long InsertMember(this StoreTx tx, MemberRecord m)
    {
        tx.Exec("""
             INSERT INTO members (group_alias, member_id, direct_alias, group_conn, clvl, status, invited_by_us, inv_id, intro_id, introducer_conn, hello_sent)
             VALUES ($g, $m, $d, $c, $l, $s, $b, $i, $n, $p, $h)
             """,
            ("$g", m.GroupAlias), ("$m", m.MemberId), ("$d", m.DirectAlias), ("$c", m.GroupConn), ("$l", m.Clvl), ("$s", (int)m.Status),
            ("$b", m.InvitedByUs ? 1 : 0), ("$i", m.InvId), ("$n", m.IntroId), ("$p", m.IntroducerConn), ("$h", m.HelloSent ? 1 : 0));
        return tx.LastInsertId();
    }

    /// <summary>
    /// Members still joining by an introduction whose introducer is gone (or unknown here), whose queues
    /// were made or joined at <paramref name="cutoff"/> or before: nobody else will end those (groups.md §6.11).
    /// </summary>
    public static List<MemberRecord> OrphanedJoiningBefore(this StoreTx tx, DateTime cutoff) => tx.Query($"""
        SELECT {PrefixedMemberColumns} FROM members m JOIN connections c ON c.alias = m.group_conn
        WHERE m.status = $j AND m.intro_id IS NOT NULL AND m.introducer_conn <> '' AND c.created_at <= $c
          AND NOT EXISTS (SELECT 1 FROM members i WHERE i.group_conn = m.introducer_conn AND i.status IN ($v, $j, $n))
        """, MapMember, ("$j", (int)MemberStatus.Joining), ("$v", (int)MemberStatus.Invited), ("$n", (int)MemberStatus.Connected),
        ("$c", StoreTx.Time(cutoff)));

    private static readonly string PrefixedMemberColumns = string.Join(", ", MemberColumns.Split(", ").Select(c => "m." + c));

    public static MemberRecord? GetMember(this StoreTx tx, long id) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE id = $i", MapMember, ("$i", id)).FirstOrDefault();

    public static MemberRecord? MemberByConn(this StoreTx tx, string groupConn) => groupConn.Length == 0 ? null :
        tx.Query($"SELECT {MemberColumns} FROM members WHERE group_conn = $c", MapMember, ("$c", groupConn)).FirstOrDefault();

    public static MemberRecord? MemberById(this StoreTx tx, string groupAlias, byte[] memberId) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g AND member_id = $m", MapMember, ("$g", groupAlias), ("$m", memberId)).FirstOrDefault();

    public static MemberRecord? MemberByDirectAlias(this StoreTx tx, string groupAlias, string directAlias) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g AND direct_alias = $d ORDER BY id DESC",
            MapMember, ("$g", groupAlias), ("$d", directAlias)).FirstOrDefault();

    public static MemberRecord? MemberByInvitation(this StoreTx tx, byte[] invId) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE inv_id = $i", MapMember, ("$i", invId)).FirstOrDefault();

    public static List<MemberRecord> ListMembers(this StoreTx tx, string groupAlias) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g ORDER BY id", MapMember, ("$g", groupAlias));

    public static void SetMemberStatus(this StoreTx tx, long id, MemberStatus status) =>
        tx.Exec("UPDATE members SET status = $s WHERE id = $i", ("$i", id), ("$s", (int)status));

    public static void SetMemberId(this StoreTx tx, long id, byte[] memberId) =>
        tx.Exec("UPDATE members SET member_id = $m WHERE id = $i", ("$i", id), ("$m", memberId));

    public static void SetMemberConnections(this StoreTx tx, long id, string groupConn, string directAlias) =>
        tx.Exec("UPDATE members SET group_conn = $c, direct_alias = $d WHERE id = $i", ("$i", id), ("$c", groupConn), ("$d", directAlias));

    public static void SetMemberFlags(this StoreTx tx, long id, bool? helloSent = null, bool? allSent = null) =>
        tx.Exec("UPDATE members SET hello_sent = COALESCE($h, hello_sent), all_sent = COALESCE($a, all_sent) WHERE id = $i",
            ("$i", id), ("$h", helloSent is null ? null : helloSent.Value ? 1 : 0), ("$a", allSent is null ? null : allSent.Value ? 1 : 0));

    /// <summary>One of our own messages that a member being introduced could not get directly (migration 10).</summary>
    public static void MarkMissed(this StoreTx tx, long id, long seq) => tx.Exec(
        "UPDATE members SET replay_from = CASE replay_from WHEN 0 THEN $s ELSE replay_from END, replay_to = $s WHERE id = $i", ("$i", id), ("$s", seq));

    /// <summary>The range <see cref="MarkMissed"/> recorded, cleared; (0, 0) when none.</summary>
    public static (long From, long To) TakeMissed(this StoreTx tx, long id)
    {
        var range = tx.Query("SELECT replay_from, replay_to FROM members WHERE id = $i", r => (r.GetInt64(0), r.GetInt64(1)), ("$i", id)).FirstOrDefault();
        if (range.Item1 != 0) tx.Exec("UPDATE members SET replay_from = 0, replay_to = 0 WHERE id = $i", ("$i", id));
        return range;
    }

    /// <summary>
    /// A member introduced to us while we leave, whom we stay for as a bridge (migration 12, groups.md §6.7). One we
    /// stopped waiting for at the introduction timeout stays given up.
    /// </summary>
    public static void SetBridge(this StoreTx tx, long id) => tx.Exec("UPDATE members SET bridge = $a WHERE id = $i AND bridge = $n",
        ("$i", id), ("$a", (int)BridgeState.Awaited), ("$n", (int)BridgeState.None));

    public static void GiveUpBridge(this StoreTx tx, long id) =>
        tx.Exec("UPDATE members SET bridge = $g WHERE id = $i", ("$i", id), ("$g", (int)BridgeState.GivenUp));

    /// <summary>
    /// Bridges that leaving groups still wait for (<see cref="AwaitsBridge"/>) whose group connection was made at
    /// <paramref name="cutoff"/> or before.
    /// </summary>
    public static List<(string Group, long Member)> BridgesAwaitedBefore(this StoreTx tx, DateTime cutoff) => tx.Query($"""
        SELECT m.group_alias, m.id FROM members m JOIN groups g ON g.alias = m.group_alias JOIN connections c ON c.alias = m.group_conn
        WHERE g.status = $l AND {AwaitedBridge} AND c.created_at <= $t
        """, r => (r.GetString(0), r.GetInt64(1)), [("$l", (int)GroupStatus.Leaving), ("$t", StoreTx.Time(cutoff)), .. AwaitedBridgeArgs]);

    /// <summary>Whether a bridge member of the group is still being joined, or connected without its view yet.</summary>
    public static bool AwaitsBridge(this StoreTx tx, string groupAlias) => tx.Query(
        $"SELECT 1 FROM members m WHERE m.group_alias = $g AND {AwaitedBridge} LIMIT 1", _ => true,
        [("$g", groupAlias), .. AwaitedBridgeArgs]).FirstOrDefault();

    /// <summary>A member <c>m</c> our leave waits for as a bridge: still joining, or connected without its view yet.</summary>
    private const string AwaitedBridge = "m.bridge = $a AND (m.status = $j OR (m.status = $c AND m.gossips = 0))";

    private static readonly (string, object?)[] AwaitedBridgeArgs =
        [("$a", (int)BridgeState.Awaited), ("$j", (int)MemberStatus.Joining), ("$c", (int)MemberStatus.Connected)];

    /// <summary>At a reader (G_RESEND, migration 11): p, we asked the author to send again from p; -p, its answer is complete.</summary>
    public static void SetResendFrom(this StoreTx tx, long id, long seq) =>
        tx.Exec("UPDATE members SET resend_from = $s WHERE id = $i", ("$i", id), ("$s", seq));

    /// <summary>What <see cref="SetResendFrom"/> stored; 0 when we never asked.</summary>
    public static long ResendFrom(this StoreTx tx, long id) =>
        tx.Query("SELECT resend_from FROM members WHERE id = $i", r => r.GetInt64(0), ("$i", id)).FirstOrDefault();

    /// <summary>At an author: the last of our own sequence numbers sent again to <paramref name="id"/>; 0 when none.</summary>
    public static long ResentTo(this StoreTx tx, long id) =>
        tx.Query("SELECT resent_to FROM members WHERE id = $i", r => r.GetInt64(0), ("$i", id)).FirstOrDefault();

    public static void SetResentTo(this StoreTx tx, long id, long seq) =>
        tx.Exec("UPDATE members SET resent_to = $s WHERE id = $i", ("$i", id), ("$s", seq));

    /// <summary>The member's chain position as its introducer gave it (G_HEAD, migration 13): known from now on.</summary>
    public static void SetChainHead(this StoreTx tx, long id, long seq, byte[] hash) =>
        tx.Exec("UPDATE members SET last_seq = $q, last_hash = $h, chain_known = 1 WHERE id = $i", ("$i", id), ("$q", seq), ("$h", hash));

    public static void SetMemberChain(this StoreTx tx, long id, long seq, byte[] hash) =>
        tx.Exec("UPDATE members SET last_seq = $q, last_hash = $h WHERE id = $i", ("$i", id), ("$q", seq), ("$h", hash));

    /// <summary>Records a group message id from a member; false when it was seen before, in this membership or an earlier one.</summary>
    public static bool MarkGroupMsgSeen(this StoreTx tx, long member, byte[] msgId) =>
        !tx.SeenInEarlierMembership(member, msgId)
        && tx.Exec("INSERT OR IGNORE INTO group_seen (member, msg_id) VALUES ($m, $i)", ("$m", member), ("$i", msgId)) == 1;

    private static bool SeenInEarlierMembership(this StoreTx tx, long member, byte[] msgId) => tx.Query("""
        SELECT 1 FROM members m JOIN groups g ON g.alias = m.group_alias
        JOIN group_seen_before b ON b.group_id = g.group_id AND b.author_id = m.member_id AND b.msg_id = $i
        WHERE m.id = $m
        """, _ => true, ("$m", member), ("$i", msgId)).Count > 0;

    /// <summary>Whether a message of <paramref name="authorId"/> was had in an earlier membership of group <paramref name="groupId"/>.</summary>
    public static bool SeenBefore(this StoreTx tx, byte[] groupId, byte[] authorId, byte[] msgId) => tx.Query(
        "SELECT 1 FROM group_seen_before WHERE group_id = $g AND author_id = $a AND msg_id = $i",
        _ => true, ("$g", groupId), ("$a", authorId), ("$i", msgId)).Count > 0;

    // --- invitations received ---

    public static void InsertInvitation(this StoreTx tx, InvitationRecord i) => tx.Exec(
        "INSERT INTO invitations (inv_id, direct_alias, group_id, member_id, clvl, queue_info, info, status, created_at) VALUES ($i, $d, $g, $m, $c, $q, $f, $s, $t)",
        ("$i", i.InvId), ("$d", i.DirectAlias), ("$g", i.GroupId), ("$m", i.MemberId), ("$c", i.Clvl), ("$q", i.QueueInfo), ("$f", i.Info), ("$s", (int)i.Status), ("$t", StoreTx.Now()));

    public static InvitationRecord? GetInvitation(this StoreTx tx, byte[] invId) => tx.Query(
        "SELECT inv_id, direct_alias, group_id, member_id, clvl, queue_info, info, status FROM invitations WHERE inv_id = $i",
        r => new InvitationRecord((byte[])r[0], r.GetString(1), (byte[])r[2], (byte[])r[3], r.GetInt32(4), r.GetString(5), (byte[])r[6], (InvitationStatus)r.GetInt32(7)),
        ("$i", invId)).FirstOrDefault();

    public static void SetInvitationStatus(this StoreTx tx, byte[] invId, InvitationStatus status) =>
        tx.Exec("UPDATE invitations SET status = $s WHERE inv_id = $i", ("$i", invId), ("$s", (int)status));

    // --- introductions run as inviter ---

    private const string IntroColumns = "group_alias, intro_id, invitee, member, status, con_invitee, con_member";

    private static IntroductionRecord MapIntro(SqliteDataReader r) => new(
        r.GetString(0), (byte[])r[1], r.GetInt64(2), r.GetInt64(3), (IntroductionStatus)r.GetInt32(4), r.GetInt32(5) != 0, r.GetInt32(6) != 0);

    public static void InsertIntroduction(this StoreTx tx, IntroductionRecord i) => tx.Exec(
        "INSERT INTO introductions (group_alias, intro_id, invitee, member, status, created_at) VALUES ($g, $i, $b, $m, $s, $t)",
        ("$g", i.GroupAlias), ("$i", i.IntroId), ("$b", i.Invitee), ("$m", i.Member), ("$s", (int)i.Status), ("$t", StoreTx.Now()));

    /// <summary>
    /// Unresolved introductions started at <paramref name="cutoff"/> or before; one without a start time
    /// (made before migration 5) counts as started at <paramref name="unknownStart"/>.
    /// </summary>
    public static List<IntroductionRecord> IntroductionsStartedBefore(this StoreTx tx, DateTime cutoff, DateTime unknownStart) => tx.Query(
        $"SELECT {IntroColumns} FROM introductions WHERE status IN ($p, $r, $f) AND COALESCE(created_at, $u) <= $c",
        MapIntro, ("$p", (int)IntroductionStatus.Pending), ("$r", (int)IntroductionStatus.InvitationsReceived), ("$f", (int)IntroductionStatus.Forwarded),
        ("$u", StoreTx.Time(unknownStart)), ("$c", StoreTx.Time(cutoff)));

    /// <summary>Whether an introduction we run in the group is still unresolved (a duty of a leave, §6.7).</summary>
    public static bool HasUnresolvedIntroductions(this StoreTx tx, string groupAlias) => tx.Query(
        "SELECT 1 FROM introductions WHERE group_alias = $g AND status IN ($p, $r, $f) LIMIT 1", _ => true,
        ("$g", groupAlias), ("$p", (int)IntroductionStatus.Pending), ("$r", (int)IntroductionStatus.InvitationsReceived),
        ("$f", (int)IntroductionStatus.Forwarded)).Count > 0;

    /// <summary>The member record made by introduction <paramref name="introId"/> run by the member on <paramref name="introducerConn"/>.</summary>
    public static MemberRecord? MemberByIntroduction(this StoreTx tx, string groupAlias, byte[] introId, string introducerConn) =>
        tx.Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g AND intro_id = $i AND introducer_conn = $c",
            MapMember, ("$g", groupAlias), ("$i", introId), ("$c", introducerConn)).FirstOrDefault();

    public static IntroductionRecord? GetIntroduction(this StoreTx tx, string groupAlias, byte[] introId) => tx.Query(
        $"SELECT {IntroColumns} FROM introductions WHERE group_alias = $g AND intro_id = $i",
        MapIntro, ("$g", groupAlias), ("$i", introId)).FirstOrDefault();

    public static List<IntroductionRecord> IntroductionsOf(this StoreTx tx, string groupAlias, long memberRowId) => tx.Query(
        $"SELECT {IntroColumns} FROM introductions WHERE group_alias = $g AND (invitee = $m OR member = $m)",
        MapIntro, ("$g", groupAlias), ("$m", memberRowId));

    public static void UpdateIntroduction(this StoreTx tx, string groupAlias, byte[] introId, IntroductionStatus status, bool? conInvitee = null, bool? conMember = null) => tx.Exec(
        "UPDATE introductions SET status = $s, con_invitee = COALESCE($b, con_invitee), con_member = COALESCE($m, con_member) WHERE group_alias = $g AND intro_id = $i",
        ("$g", groupAlias), ("$i", introId), ("$s", (int)status),
        ("$b", conInvitee is null ? null : conInvitee.Value ? 1 : 0), ("$m", conMember is null ? null : conMember.Value ? 1 : 0));
}
