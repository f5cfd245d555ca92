using Smp.Agent.Store;

namespace Smp.Agent.Groups;

/// <summary>
/// Who is who (migration 6, groups.md §6.12): the info each member sent about itself, and our own per group.
/// Kept apart from <see cref="MemberRecord"/> and <see cref="GroupRecord"/>, which most steps read without it.
/// </summary>
internal static class GroupInfoTables
{
    public static byte[] GetMemberInfo(this StoreTx tx, long member) =>
        tx.Query("SELECT info FROM members WHERE id = $i", r => (byte[])r[0], ("$i", member)).FirstOrDefault() ?? [];

    public static void SetMemberInfo(this StoreTx tx, long member, byte[] info) =>
        tx.Exec("UPDATE members SET info = $f WHERE id = $i", ("$i", member), ("$f", info));

    /// <summary>Every member record's info in one group, by row id.</summary>
    public static Dictionary<long, byte[]> MemberInfos(this StoreTx tx, string groupAlias) =>
        tx.Query("SELECT id, info FROM members WHERE group_alias = $g", r => (r.GetInt64(0), (byte[])r[1]), ("$g", groupAlias))
            .ToDictionary(x => x.Item1, x => x.Item2);

    public static byte[] GetOwnInfo(this StoreTx tx, string groupAlias) =>
        tx.Query("SELECT own_info FROM groups WHERE alias = $a", r => (byte[])r[0], ("$a", groupAlias)).FirstOrDefault() ?? [];

    public static void SetOwnInfo(this StoreTx tx, string groupAlias, byte[] info) =>
        tx.Exec("UPDATE groups SET own_info = $f WHERE alias = $a", ("$a", groupAlias), ("$f", info));
}
