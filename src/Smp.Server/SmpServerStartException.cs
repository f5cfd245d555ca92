namespace Smp.Server;

/// <summary>Why <see cref="SmpServer.StartAsync"/> refused to start (docs/server.md, "Data directory").</summary>
public enum SmpServerStartFailure
{
    /// <summary>Another process holds the data directory's lock.</summary>
    DataDirectoryInUse = 1,

    /// <summary>The store exists but the server key does not, and no new key was allowed.</summary>
    KeyMissing = 2,
}

/// <summary>
/// A refusal to start that the operator must act on; <see cref="Exception.Message"/> is one line in plain
/// words naming the path, fit to print as it is.
/// </summary>
public sealed class SmpServerStartException : Exception
{
    public SmpServerStartException(SmpServerStartFailure failure, string path, string message, int? holderProcessId = null, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
        Path = path;
        HolderProcessId = holderProcessId;
    }

    public SmpServerStartFailure Failure { get; }

    /// <summary>The file or directory the refusal is about.</summary>
    public string Path { get; }

    /// <summary>For <see cref="SmpServerStartFailure.DataDirectoryInUse"/>: the process holding the lock, when it could be read.</summary>
    public int? HolderProcessId { get; }
}
