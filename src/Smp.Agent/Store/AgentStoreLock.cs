using System.Globalization;

namespace Smp.Agent.Store;

/// <summary>
/// Keeps a second agent off a database while this one runs: two agents on one store would both subscribe
/// its queues and take each other's messages. The lock is <c>FILE.lock</c> beside the database, held open
/// with <see cref="FileShare.None"/>: an exclusive flock on Unix, a sharing lock on Windows, dropped by the
/// operating system however the process ends (a stale file after <c>kill -9</c> is simply taken again).
/// A file locked that way cannot be read by another .NET process, so the holder's pid goes into
/// <c>FILE.pid</c>, read only to name the holder when the lock is taken.
/// </summary>
internal sealed class AgentStoreLock : IDisposable
{
    private readonly FileStream _lock;
    private readonly string _pidPath;

    private AgentStoreLock(FileStream lockFile, string pidPath)
    {
        _lock = lockFile;
        _pidPath = pidPath;
    }

    public static string LockPath(string database) => database + ".lock";

    public static string PidPath(string database) => database + ".pid";

    /// <summary>Takes the lock of <paramref name="database"/> (a full path) or throws <see cref="AgentStoreException"/> naming it and the holder.</summary>
    public static AgentStoreLock Acquire(string database)
    {
        var lockPath = LockPath(database);
        var pidPath = PidPath(database);
        FileStream stream;
        try
        {
            // Never deleted: a process that opened the old file could otherwise lock it while another locks a new one.
            stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException e) when (IsSharingViolation(e))
        {
            var pid = ReadPid(pidPath);
            var holder = pid is { } p ? string.Create(CultureInfo.InvariantCulture, $"process {p}") : "another process";
            throw new AgentStoreException(database,
                $"the agent database {database} is in use by {holder} (lock file {lockPath}); stop that agent first or give another --db",
                e, pid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgentStoreException(database, $"cannot lock the agent database {database}: {e.Message}", e);
        }
        try
        {
            var temp = pidPath + ".tmp";
            File.WriteAllText(temp, string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}\n"));
            File.Move(temp, pidPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new AgentStoreException(database, $"cannot write {pidPath}: {e.Message}", e);
        }
        return new AgentStoreLock(stream, pidPath);
    }

    private static bool IsSharingViolation(IOException e) =>
        e.GetType() == typeof(IOException) && (OperatingSystem.IsWindows()
            ? e.HResult is unchecked((int)0x80070020) or unchecked((int)0x80070021)
            : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35)); // EWOULDBLOCK from flock

    private static int? ReadPid(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        // The pid file goes first, while the lock still says it is ours.
        try
        {
            File.Delete(_pidPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        _lock.Dispose();
    }
}

/// <summary>The agent's store could not be opened; the message names the database file (and the lock's holder).</summary>
public sealed class AgentStoreException(string path, string message, Exception? inner = null, int? holderPid = null)
    : IOException(message, inner)
{
    /// <summary>The database file.</summary>
    public string DatabasePath { get; } = path;

    /// <summary>The process holding the database's lock, where known.</summary>
    public int? HolderPid { get; } = holderPid;
}
