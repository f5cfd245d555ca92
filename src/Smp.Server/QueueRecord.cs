using Smp.Server.Sessions;

namespace Smp.Server;

/// <summary>A message accepted by SEND and not yet ACKed or expired.</summary>
internal sealed class StoredMessage(byte[] id, DateTimeOffset timestamp, byte[] body)
{
    public byte[] Id { get; } = id;
    public DateTimeOffset Timestamp { get; } = timestamp;
    public byte[] Body { get; } = body;
}

/// <summary>
/// One queue (smp-wire.md §1). Kept small because a server holds many idle ones: ids and keys are the raw
/// bytes, parsed only when a command needs them, and the message list exists only while messages wait.
/// All mutable state is guarded by <c>lock (queue)</c>; the lock order is queue → log files → session.
/// </summary>
internal sealed class QueueRecord(byte[] recipientId, byte[] senderId, byte[] recipientKey, byte[]? senderKey)
{
    private byte[]? _senderKey = senderKey;
    private Queue<StoredMessage>? _messages;

    public byte[] RecipientId { get; } = recipientId;
    public byte[] SenderId { get; } = senderId;
    public byte[] RecipientKey { get; } = recipientKey;

    /// <summary>Set once by KEY; read without the lock by signature checks, which re-check it under the lock.</summary>
    public byte[]? SenderKey
    {
        get => Volatile.Read(ref _senderKey);
        set => Volatile.Write(ref _senderKey, value);
    }

    public bool Suspended { get; set; }
    public bool Deleted { get; set; }

    /// <summary>The connection that receives this queue's messages, if any.</summary>
    public ClientSession? Subscriber { get; set; }

    /// <summary>The head message was sent to <see cref="Subscriber"/> and awaits its ACK.</summary>
    public bool Delivered { get; set; }

    public int MessageCount => _messages?.Count ?? 0;

    public StoredMessage? Head => _messages is { Count: > 0 } m ? m.Peek() : null;

    public void Enqueue(StoredMessage message) => (_messages ??= new Queue<StoredMessage>(4)).Enqueue(message);

    public StoredMessage? Dequeue()
    {
        if (_messages is not { Count: > 0 } m) return null;
        var message = m.Dequeue();
        if (m.Count == 0) _messages = null;
        return message;
    }

    public bool Contains(ReadOnlySpan<byte> msgId)
    {
        if (_messages is null) return false;
        foreach (var m in _messages) if (m.Id.AsSpan().SequenceEqual(msgId)) return true;
        return false;
    }

    /// <summary>Removes the first message with this id (journal replay of an ACK).</summary>
    public bool Remove(ReadOnlySpan<byte> msgId)
    {
        if (_messages is null) return false;
        var found = false;
        var kept = new Queue<StoredMessage>(_messages.Count);
        foreach (var m in _messages)
        {
            if (!found && m.Id.AsSpan().SequenceEqual(msgId)) found = true;
            else kept.Enqueue(m);
        }
        _messages = kept.Count == 0 ? null : kept;
        return found;
    }

    /// <summary>Drops messages older than <paramref name="cutoff"/>, except a head that awaits its ACK.</summary>
    public int DropExpired(DateTimeOffset cutoff)
    {
        if (_messages is null || _messages.All(m => m.Timestamp >= cutoff)) return 0;
        var keepHead = Delivered;
        var dropped = 0;
        var kept = new Queue<StoredMessage>(_messages.Count);
        var first = true;
        foreach (var m in _messages)
        {
            if (m.Timestamp < cutoff && !(first && keepHead)) dropped++;
            else kept.Enqueue(m);
            first = false;
        }
        if (dropped > 0) _messages = kept.Count == 0 ? null : kept;
        return dropped;
    }

    public StoredMessage[] SnapshotMessages() => _messages?.ToArray() ?? [];
}
