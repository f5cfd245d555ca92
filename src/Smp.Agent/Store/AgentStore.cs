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
    private readonly AgentStoreLock? _lock;
    private readonly PreparedCommands _commands;

    private AgentStore(SqliteConnection db, AgentStoreLock? storeLock)
    {
        _db = db;
        _lock = storeLock;
        _commands = new PreparedCommands(db);
    }

    public string Path { get; private init; } = "";

    /// <summary>
    /// Opens (creating if needed) and migrates the store at <paramref name="path"/>; ":memory:" for tests.
    /// A file store is locked against other agents until disposed. Failures name the file:
    /// <see cref="AgentStoreException"/>, or <see cref="InvalidOperationException"/> for a store from a newer agent.
    /// </summary>
    public static async Task<AgentStore> OpenAsync(string path, bool fullSync = false, CancellationToken ct = default)
    {
        AgentStoreLock? storeLock = null;
        var full = path == ":memory:" ? path : System.IO.Path.GetFullPath(path);
        if (path != ":memory:")
        {
            if (Directory.Exists(full)) throw new AgentStoreException(full, $"the agent database {full} is a directory; give a file name");
            var dir = System.IO.Path.GetDirectoryName(full);
            try
            {
                if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new AgentStoreException(full, $"cannot create the directory of the agent database {full}: {e.Message}", e);
            }
            storeLock = AgentStoreLock.Acquire(full);
        }
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
        var db = new SqliteConnection(cs);
        try
        {
            await db.OpenAsync(ct).ConfigureAwait(false);
            Exec(db, "PRAGMA busy_timeout = 10000;");
            if (path != ":memory:") Exec(db, "PRAGMA journal_mode = WAL;");
            Exec(db, fullSync ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;");
            Exec(db, "PRAGMA foreign_keys = ON;");
            Migrations.Apply(db);
        }
        catch (Exception e)
        {
            await db.DisposeAsync().ConfigureAwait(false);
            storeLock?.Dispose();
            if (e is SqliteException sql) throw new AgentStoreException(full, $"cannot open the agent database {full}: {sql.Message}", sql);
            if (e is InvalidOperationException newer) throw new InvalidOperationException($"{full}: {newer.Message}", newer);
            throw;
        }
        return new AgentStore(db, storeLock) { Path = path };
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

    /// <summary>A pragma's current value on the store's connection (durability settings are per connection).</summary>
    internal string Pragma(string name)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = $"PRAGMA {name};";
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>Runs <paramref name="work"/> inside one transaction; it commits only if no exception escapes.</summary>
    public async Task<T> TransactAsync<T>(Func<StoreTx, T> work, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var tx = _db.BeginTransaction(deferred: false);
            var result = work(new StoreTx(tx, _commands));
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
            _commands.Dispose();
            await _db.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
            _gate.Dispose();
            _lock?.Dispose();
        }
    }
}
