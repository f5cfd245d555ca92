using Smp.Agent.Store;

namespace Smp.Agent.Runtime;

/// <summary>The key pool's table (migration 3); only <see cref="KeyPool"/> uses it.</summary>
internal static class KeyPoolTable
{
    public static long InsertPoolKey(this StoreTx tx, int bits, byte[] pkcs8) =>
        tx.Query("INSERT INTO key_pool (bits, pkcs8) VALUES ($b, $k) RETURNING id", r => r.GetInt64(0), ("$b", bits), ("$k", pkcs8))[0];

    public static List<(long Id, int Bits, byte[] Pkcs8)> ListPoolKeys(this StoreTx tx) =>
        tx.Query("SELECT id, bits, pkcs8 FROM key_pool ORDER BY id", r => (r.GetInt64(0), r.GetInt32(1), (byte[])r[2]));

    /// <summary>False when the row was gone already: the key was used, and must not be used again.</summary>
    public static bool DeletePoolKey(this StoreTx tx, long id) => tx.Exec("DELETE FROM key_pool WHERE id = $i", ("$i", id)) == 1;

    public static void DeletePoolKeysExcept(this StoreTx tx, IReadOnlyCollection<int> bits) =>
        tx.Exec($"DELETE FROM key_pool WHERE bits NOT IN ({string.Join(",", bits)})");
}
