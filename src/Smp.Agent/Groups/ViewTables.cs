using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>What converging membership stores (migration 7, groups.md §6.11): each member's last view.</summary>
internal static class ViewTables
{
    /// <summary>Replaces the view <paramref name="reporter"/> told us and marks it as speaking G_VIEW.</summary>
    public static void ReplaceView(this StoreTx tx, long reporter, IEnumerable<MemberViewEntry> entries)
    {
        tx.Exec("DELETE FROM member_views WHERE reporter = $r", ("$r", reporter));
        foreach (var e in entries)
            tx.Exec("INSERT INTO member_views (reporter, member_id, state) VALUES ($r, $m, $s)", ("$r", reporter), ("$m", e.MemberId), ("$s", (int)e.State));
        tx.Exec("UPDATE members SET gossips = 1 WHERE id = $r", ("$r", reporter));
    }

    public static Dictionary<string, MemberViewState> ViewOf(this StoreTx tx, long reporter) =>
        tx.Query("SELECT member_id, state FROM member_views WHERE reporter = $r",
            r => (IntroductionRule.Key((byte[])r[0]), (MemberViewState)r.GetInt32(1)), ("$r", reporter))
          .ToDictionary(e => e.Item1, e => e.Item2);

    /// <summary>Whether the member has sent us a G_VIEW: it speaks this version and may introduce to us.</summary>
    public static bool Gossips(this StoreTx tx, long member) =>
        tx.Query("SELECT gossips FROM members WHERE id = $i", r => r.GetInt32(0) != 0, ("$i", member)).FirstOrDefault();

    public static void SetIntroductionReason(this StoreTx tx, string groupAlias, byte[] introId, GroupAddErrorReason reason) =>
        tx.Exec("UPDATE introductions SET reason = $r WHERE group_alias = $g AND intro_id = $i", ("$g", groupAlias), ("$i", introId), ("$r", (int)reason));

    /// <summary>Introductions of the pair (either way round) that are unresolved, and failed ones that were real attempts.</summary>
    public static (int Live, int Failed) PairAttempts(this StoreTx tx, string groupAlias, long a, long b) => tx.Query(
        """
        SELECT
          SUM(CASE WHEN status IN ($p, $r, $f) THEN 1 ELSE 0 END),
          SUM(CASE WHEN status = $x AND reason <> $d THEN 1 ELSE 0 END)
        FROM introductions WHERE group_alias = $g AND ((invitee = $a AND member = $b) OR (invitee = $b AND member = $a))
        """,
        r => (r.IsDBNull(0) ? 0 : r.GetInt32(0), r.IsDBNull(1) ? 0 : r.GetInt32(1)),
        ("$g", groupAlias), ("$a", a), ("$b", b), ("$p", (int)IntroductionStatus.Pending), ("$r", (int)IntroductionStatus.InvitationsReceived),
        ("$f", (int)IntroductionStatus.Forwarded), ("$x", (int)IntroductionStatus.Failed), ("$d", (int)GroupAddErrorReason.DuplicateMember))[0];

    /// <summary>A member record made again by a new introduction: new introducer and connections, not connected, no hello said.</summary>
    public static void ResetMemberForIntroduction(this StoreTx tx, long id, byte[] introId, string introducerConn, string groupConn, string directAlias, int clvl) =>
        tx.Exec("""
            UPDATE members SET status = $s, intro_id = $n, introducer_conn = $p, group_conn = $c, direct_alias = $d, clvl = $l, hello_sent = 0
            WHERE id = $i
            """,
            ("$i", id), ("$s", (int)MemberStatus.Joining), ("$n", introId), ("$p", introducerConn), ("$c", groupConn), ("$d", directAlias), ("$l", clvl));
}
