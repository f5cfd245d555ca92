using Microsoft.Data.Sqlite;

namespace Smp.Agent.Store;

/// <summary>
/// The agent's SQLite store (agent.md §4). One connection per agent, every access serialised through
/// one gate: the reference opened two connections without a busy timeout and hit SQLITE_BUSY when one
/// agent served both ends of a connection. Every state change runs in one transaction.
/// </summary>
public sealed partial class AgentStore : IAsyncDisposable
{
    private readonly SqliteConnection _db;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private AgentStore(SqliteConnection db) => _db = db;

    public string Path { get; private init; } = "";

    /// <summary>Opens (creating if needed) and migrates the store at <paramref name="path"/>; ":memory:" for tests.</summary>
    public static async Task<AgentStore> OpenAsync(string path, bool fullSync = false, CancellationToken ct = default)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (path != ":memory:" && !string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
        var db = new SqliteConnection(cs);
        await db.OpenAsync(ct).ConfigureAwait(false);
        try
        {
            Exec(db, "PRAGMA busy_timeout = 10000;");
            if (path != ":memory:") Exec(db, "PRAGMA journal_mode = WAL;");
            Exec(db, fullSync ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
            Exec(db, "PRAGMA foreign_keys = ON;");
            Migrations.Apply(db);
        }
        catch
        {
            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return new AgentStore(db) { Path = path };
    }

    public int SchemaVersion
    {
        get
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "PRAGMA user_version;";
            return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Runs <paramref name="work"/> inside one transaction; it commits only if no exception escapes.</summary>
    public async Task<T> TransactAsync<T>(Func<StoreTx, T> work, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var tx = _db.BeginTransaction(deferred: false);
            var result = work(new StoreTx(_db, tx));
            tx.Commit();
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task TransactAsync(Action<StoreTx> work, CancellationToken ct = default) =>
        TransactAsync(tx => { work(tx); return true; }, ct);

    internal static void Exec(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _db.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
        }
    }
}
