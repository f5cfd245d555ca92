namespace Smp.Protocol.Transport;

/// <summary>Why a transport could not be set up or went on no longer. Values are frozen.</summary>
public enum TransportError
{
    /// <summary>The peer sent a handshake that does not follow smp-wire.md §2.</summary>
    Handshake = 1,
    /// <summary>The server key does not match the key hash of the address (BAD_HASH).</summary>
    BadKeyHash = 2,
    /// <summary>Block size outside 4096..65536 or not the one agreed.</summary>
    BadBlockSize = 3,
    /// <summary>The server's welcome names a major version we do not speak.</summary>
    Version = 4,
    /// <summary>A transmission larger than a block was to be sent.</summary>
    Large = 5,
    /// <summary>The connection closed or failed mid-way.</summary>
    Closed = 6,
    /// <summary>The handshake did not finish in time.</summary>
    Timeout = 7,
}

public sealed class SmpTransportException(TransportError error, string? detail = null)
    : Exception(detail is null ? $"transport error {error}" : $"transport error {error}: {detail}")
{
    public TransportError Error { get; } = error;
}
