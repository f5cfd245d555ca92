using System.Net;

namespace Smp.Server;

/// <summary>Settings of one SMP relay server; docs/server.md describes each.</summary>
public sealed class SmpServerOptions
{
    /// <summary>Holds the server key, the store log and the message journal; created if missing.</summary>
    public string DataDirectory { get; set; } = "smp-server-data";

    /// <summary>The host name written into <see cref="SmpServer.Address"/>; it is not bound.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>TCP port; 0 picks a free one (see <see cref="SmpServer.Port"/>).</summary>
    public int Port { get; set; } = 5223;

    /// <summary>Address to listen on: all interfaces by default, as a relay serves the network.</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Any;

    /// <summary>Messages older than this are dropped unread.</summary>
    public TimeSpan MessageTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Waiting (un-ACKed) messages per queue; a SEND beyond this gets ERR QUOTA.</summary>
    public int MaxMessagesPerQueue { get; set; } = 128;

    /// <summary>fsync every journal and store-log record before answering (power-loss durability).</summary>
    public bool FsyncEveryWrite { get; set; }

    /// <summary>A connection that has not finished the transport handshake by then is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a statistics line is logged; zero or negative turns it off.</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often expired messages are dropped and the journal is considered for compaction.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Make a new server key when <c>server_key.pem</c> is missing beside an existing store. Off: start-up
    /// refuses, because a new key is a new address for every client of the stored queues.
    /// </summary>
    public bool AllowNewKey { get; set; }

    /// <summary>Size of the server key made on first run.</summary>
    public int KeyBits { get; set; } = 2048;

    /// <summary>Blocks queued for one client; a client whose queue overflows is disconnected.</summary>
    public int SendQueueCapacity { get; set; } = 64;

    /// <summary>A client that takes no block from us for this long is disconnected.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>SO_SNDBUF of accepted sockets; 0 keeps the system default.</summary>
    public int SocketSendBufferSize { get; set; }

    /// <summary>The clock used for message timestamps and expiry (tests substitute their own).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory)) throw new ArgumentException("DataDirectory is required");
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port));
        if (MaxMessagesPerQueue < 1) throw new ArgumentOutOfRangeException(nameof(MaxMessagesPerQueue));
        if (MessageTtl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MessageTtl));
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout));
        if (MaintenanceInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaintenanceInterval));
        if (SendQueueCapacity < 2) throw new ArgumentOutOfRangeException(nameof(SendQueueCapacity));
        if (KeyBits is not (2048 or 3072 or 4096)) throw new ArgumentOutOfRangeException(nameof(KeyBits), "the transport key must be 2048, 3072 or 4096 bits");
    }
}
