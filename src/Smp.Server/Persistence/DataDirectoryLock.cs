using System.Globalization;
using System.Text;

namespace Smp.Server.Persistence;

/// <summary>
/// Keeps a second server off a data directory while this one runs (docs/server.md, "Data directory").
/// The lock is <c>smp-server.lock</c> held open with <see cref="FileShare.None"/>, which .NET maps to an
/// exclusive flock on Unix and a sharing lock on Windows; the operating system drops it when the process
/// ends, however it ends. A file locked that way cannot be read by another .NET process, so the holder's
/// pid goes into <c>smp-server.pid</c> beside it, read only when the lock is found taken.
/// </summary>
internal sealed class DataDirectoryLock : IDisposable
{
    public const string LockFileName = "smp-server.lock";
    public const string PidFileName = "smp-server.pid";

    private readonly FileStream _lock;
    private readonly string _pidPath;

    private DataDirectoryLock(FileStream lockFile, string pidPath)
    {
        _lock = lockFile;
        _pidPath = pidPath;
    }

    /// <summary>False when the runtime was told not to lock files, so the lock protects nothing.</summary>
    public static bool LockingEnabled =>
        !(AppContext.TryGetSwitch("System.IO.DisableFileLocking", out var off) && off)
        && Environment.GetEnvironmentVariable("DOTNET_SYSTEM_IO_DISABLEFILELOCKING") is not ("1" or "true" or "TRUE" or "True");

    /// <summary>Takes the lock or throws <see cref="SmpServerStartException"/> naming the directory and, where known, the holder.</summary>
    public static DataDirectoryLock Acquire(string directory)
    {
        var lockPath = Path.Combine(directory, LockFileName);
        var pidPath = Path.Combine(directory, PidFileName);
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
            throw new SmpServerStartException(SmpServerStartFailure.DataDirectoryInUse, directory,
                $"the data directory {directory} is in use by {holder} (lock file {lockPath}); stop that server first or use another data directory",
                pid, e);
        }
        try
        {
            // Advice for the refusal message only, so not fsynced: a pid file lost to a power cut just reads as "another process".
            File.WriteAllText(pidPath, string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}\n"), Encoding.ASCII);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        return new DataDirectoryLock(stream, pidPath);
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
