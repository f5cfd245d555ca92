using Microsoft.Data.Sqlite;

namespace Smp.Agent.Store;

// Group tables (migration 2).
public sealed partial class StoreTx
{
    private const string GroupColumns = "alias, group_id, member_id, clvl, info, status, inviter_conn, last_seq, last_hash";

    private static GroupRecord MapGroup(SqliteDataReader r) => new(
        r.GetString(0), (byte[])r[1], (byte[])r[2], r.GetInt32(3), (byte[])r[4], (GroupStatus)r.GetInt32(5), r.GetString(6), r.GetInt64(7), (byte[])r[8]);

    public void InsertGroup(GroupRecord g) => Exec(
        "INSERT INTO groups (alias, group_id, member_id, clvl, info, status, inviter_conn, created_at) VALUES ($a, $g, $m, $c, $i, $s, $v, $t)",
        ("$a", g.Alias), ("$g", g.GroupId), ("$m", g.MemberId), ("$c", g.Clvl), ("$i", g.Info), ("$s", (int)g.Status), ("$v", g.InviterConn), ("$t", Now()));

    public GroupRecord? GetGroup(string alias) =>
        Query($"SELECT {GroupColumns} FROM groups WHERE alias = $a", MapGroup, ("$a", alias)).FirstOrDefault();

    public GroupRecord? FindGroupById(byte[] groupId) =>
        Query($"SELECT {GroupColumns} FROM groups WHERE group_id = $g", MapGroup, ("$g", groupId)).FirstOrDefault();

    public List<GroupRecord> ListGroups() => Query($"SELECT {GroupColumns} FROM groups ORDER BY alias", MapGroup);

    public bool GroupExists(string alias) => Query("SELECT 1 FROM groups WHERE alias = $a", _ => true, ("$a", alias)).Count > 0;

    /// <summary>Forgets a group and everything about its members (cascade); its connections go by their own jobs.</summary>
    public void DeleteGroup(string alias)
    {
        Exec("DELETE FROM introductions WHERE group_alias = $a", ("$a", alias));
        Exec("DELETE FROM members WHERE group_alias = $a", ("$a", alias));
        Exec("DELETE FROM groups WHERE alias = $a", ("$a", alias));
    }

    public void SetGroupStatus(string alias, GroupStatus status) =>
        Exec("UPDATE groups SET status = $s WHERE alias = $a", ("$a", alias), ("$s", (int)status));

    public void SetGroupChain(string alias, long seq, byte[] hash) =>
        Exec("UPDATE groups SET last_seq = $q, last_hash = $h WHERE alias = $a", ("$a", alias), ("$q", seq), ("$h", hash));

    // --- members ---

    private const string MemberColumns =
        "id, group_alias, member_id, direct_alias, group_conn, clvl, status, invited_by_us, inv_id, intro_id, introducer_conn, hello_sent, all_sent, last_seq, last_hash";

    private static MemberRecord MapMember(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), BlobOrNull(r, 2), r.GetString(3), r.GetString(4), r.GetInt32(5), (MemberStatus)r.GetInt32(6),
        r.GetInt32(7) != 0, BlobOrNull(r, 8), BlobOrNull(r, 9), r.GetString(10), r.GetInt32(11) != 0, r.GetInt32(12) != 0, r.GetInt64(13), (byte[])r[14]);

    public long InsertMember(MemberRecord m)
    {
        Exec("""
             INSERT INTO members (group_alias, member_id, direct_alias, group_conn, clvl, status, invited_by_us, inv_id, intro_id, introducer_conn, hello_sent)
             VALUES ($g, $m, $d, $c, $l, $s, $b, $i, $n, $p, $h)
             """,
            ("$g", m.GroupAlias), ("$m", m.MemberId), ("$d", m.DirectAlias), ("$c", m.GroupConn), ("$l", m.Clvl), ("$s", (int)m.Status),
            ("$b", m.InvitedByUs ? 1 : 0), ("$i", m.InvId), ("$n", m.IntroId), ("$p", m.IntroducerConn), ("$h", m.HelloSent ? 1 : 0));
        return Query("SELECT last_insert_rowid()", r => r.GetInt64(0))[0];
    }

    public MemberRecord? GetMember(long id) =>
        Query($"SELECT {MemberColumns} FROM members WHERE id = $i", MapMember, ("$i", id)).FirstOrDefault();

    public MemberRecord? MemberByConn(string groupConn) => groupConn.Length == 0 ? null :
        Query($"SELECT {MemberColumns} FROM members WHERE group_conn = $c", MapMember, ("$c", groupConn)).FirstOrDefault();

    public MemberRecord? MemberById(string groupAlias, byte[] memberId) =>
        Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g AND member_id = $m", MapMember, ("$g", groupAlias), ("$m", memberId)).FirstOrDefault();

    public MemberRecord? MemberByDirectAlias(string groupAlias, string directAlias) =>
        Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g AND direct_alias = $d ORDER BY id DESC",
            MapMember, ("$g", groupAlias), ("$d", directAlias)).FirstOrDefault();

    public MemberRecord? MemberByInvitation(byte[] invId) =>
        Query($"SELECT {MemberColumns} FROM members WHERE inv_id = $i", MapMember, ("$i", invId)).FirstOrDefault();

    public List<MemberRecord> ListMembers(string groupAlias) =>
        Query($"SELECT {MemberColumns} FROM members WHERE group_alias = $g ORDER BY id", MapMember, ("$g", groupAlias));

    public void SetMemberStatus(long id, MemberStatus status) =>
        Exec("UPDATE members SET status = $s WHERE id = $i", ("$i", id), ("$s", (int)status));

    public void SetMemberId(long id, byte[] memberId) =>
        Exec("UPDATE members SET member_id = $m WHERE id = $i", ("$i", id), ("$m", memberId));

    public void SetMemberConnections(long id, string groupConn, string directAlias) =>
        Exec("UPDATE members SET group_conn = $c, direct_alias = $d WHERE id = $i", ("$i", id), ("$c", groupConn), ("$d", directAlias));

    public void SetMemberFlags(long id, bool? helloSent = null, bool? allSent = null) =>
        Exec("UPDATE members SET hello_sent = COALESCE($h, hello_sent), all_sent = COALESCE($a, all_sent) WHERE id = $i",
            ("$i", id), ("$h", helloSent is null ? null : helloSent.Value ? 1 : 0), ("$a", allSent is null ? null : allSent.Value ? 1 : 0));

    public void SetMemberChain(long id, long seq, byte[] hash) =>
        Exec("UPDATE members SET last_seq = $q, last_hash = $h WHERE id = $i", ("$i", id), ("$q", seq), ("$h", hash));

    /// <summary>Records a group message id from a member; false when it was seen before.</summary>
    public bool MarkGroupMsgSeen(long member, byte[] msgId) =>
        Exec("INSERT OR IGNORE INTO group_seen (member, msg_id) VALUES ($m, $i)", ("$m", member), ("$i", msgId)) == 1;

    // --- invitations received ---

    public void InsertInvitation(InvitationRecord i) => Exec(
        "INSERT INTO invitations (inv_id, direct_alias, group_id, member_id, clvl, queue_info, info, status, created_at) VALUES ($i, $d, $g, $m, $c, $q, $f, $s, $t)",
        ("$i", i.InvId), ("$d", i.DirectAlias), ("$g", i.GroupId), ("$m", i.MemberId), ("$c", i.Clvl), ("$q", i.QueueInfo), ("$f", i.Info), ("$s", (int)i.Status), ("$t", Now()));

    public InvitationRecord? GetInvitation(byte[] invId) => Query(
        "SELECT inv_id, direct_alias, group_id, member_id, clvl, queue_info, info, status FROM invitations WHERE inv_id = $i",
        r => new InvitationRecord((byte[])r[0], r.GetString(1), (byte[])r[2], (byte[])r[3], r.GetInt32(4), r.GetString(5), (byte[])r[6], (InvitationStatus)r.GetInt32(7)),
        ("$i", invId)).FirstOrDefault();

    public void SetInvitationStatus(byte[] invId, InvitationStatus status) =>
        Exec("UPDATE invitations SET status = $s WHERE inv_id = $i", ("$i", invId), ("$s", (int)status));

    // --- introductions run as inviter ---

    private static IntroductionRecord MapIntro(SqliteDataReader r) => new(
        r.GetString(0), (byte[])r[1], r.GetInt64(2), r.GetInt64(3), (IntroductionStatus)r.GetInt32(4), r.GetInt32(5) != 0, r.GetInt32(6) != 0);

    public void InsertIntroduction(IntroductionRecord i) => Exec(
        "INSERT INTO introductions (group_alias, intro_id, invitee, member, status) VALUES ($g, $i, $b, $m, $s)",
        ("$g", i.GroupAlias), ("$i", i.IntroId), ("$b", i.Invitee), ("$m", i.Member), ("$s", (int)i.Status));

    public IntroductionRecord? GetIntroduction(string groupAlias, byte[] introId) => Query(
        "SELECT group_alias, intro_id, invitee, member, status, con_invitee, con_member FROM introductions WHERE group_alias = $g AND intro_id = $i",
        MapIntro, ("$g", groupAlias), ("$i", introId)).FirstOrDefault();

    public List<IntroductionRecord> IntroductionsOf(string groupAlias, long memberRowId) => Query(
        "SELECT group_alias, intro_id, invitee, member, status, con_invitee, con_member FROM introductions WHERE group_alias = $g AND (invitee = $m OR member = $m)",
        MapIntro, ("$g", groupAlias), ("$m", memberRowId));

    public void UpdateIntroduction(string groupAlias, byte[] introId, IntroductionStatus status, bool? conInvitee = null, bool? conMember = null) => Exec(
        "UPDATE introductions SET status = $s, con_invitee = COALESCE($b, con_invitee), con_member = COALESCE($m, con_member) WHERE group_alias = $g AND intro_id = $i",
        ("$g", groupAlias), ("$i", introId), ("$s", (int)status),
        ("$b", conInvitee is null ? null : conInvitee.Value ? 1 : 0), ("$m", conMember is null ? null : conMember.Value ? 1 : 0));
}
