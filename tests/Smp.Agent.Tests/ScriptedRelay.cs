using System.Security.Cryptography;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

/// <summary>
/// A small SMP relay on the fake server, faithful to SMP 0.3's delivery rules (one delivered message per
/// queue until ACK; SUB delivers the first message again; a signed SEND only once the queue is secured), so
/// that real agents can connect through it, and with hooks to do what a real relay does only in a crash:
/// deliver a message again, deliver any bytes under any id, watch every ACK.
/// </summary>
internal sealed class ScriptedRelay : IAsyncDisposable
{
    private readonly FakeSmpServer _server = FakeSmpServer.Start();
    private readonly Lock _sync = new();
    private readonly List<RelayQueue> _queues = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ScriptedRelay() => _server.Handler = async (s, t) =>
    {
        try
        {
            await HandleAsync(s, t);
        }
        finally
        {
            TaskCompletionSource changed;
            lock (_sync)
            {
                changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        }
    };

    public SmpServerAddress Address => _server.Address;

    /// <summary>Called when an ACK arrives; false drops it unanswered, as a relay that died before reading it.</summary>
    public Func<RelayQueue, Task<bool>>? BeforeAck { get; set; }

    /// <summary>
    /// Called after a recipient command took effect; true drops the connection instead of answering, as a
    /// relay whose answer was lost (the client cannot tell whether the command arrived).
    /// </summary>
    public Func<SmpCommand, bool>? LoseAnswer { get; set; }

    /// <summary>Awaited before a SEND is checked: holds it (e.g. until the queue is secured), as a slow network.</summary>
    public Func<RelayQueue, SmpTransmission, Task>? BeforeSend { get; set; }

    public sealed class RelayQueue(byte[] recipientId, byte[] senderId, byte[] recipientKey)
    {
        public byte[] RecipientId { get; } = recipientId;
        public byte[] SenderId { get; } = senderId;
        public byte[] RecipientKey { get; } = recipientKey;
        public byte[]? SenderKey { get; set; }
        public List<SmpCommand.Msg> Messages { get; } = [];
        public FakeSession? Subscriber { get; set; }
        public bool Delivered { get; set; }
        public int Acks { get; set; }
        /// <summary>Every message accepted by SEND, in order, whether or not still waiting.</summary>
        public List<SmpCommand.Msg> Accepted { get; } = [];
    }

    public IReadOnlyList<RelayQueue> Queues
    {
        get
        {
            lock (_sync) return [.. _queues];
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, checking after each transmission the relay handles.</summary>
    public async Task WaitAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            Task changed;
            lock (_sync)
            {
                if (condition()) return;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cts.Token);
        }
    }

    /// <summary>Pushes <paramref name="msg"/> to the queue's subscriber as if it were delivered (again).</summary>
    public Task PushAsync(RelayQueue q, SmpCommand.Msg msg) =>
        (q.Subscriber ?? throw new InvalidOperationException("nobody subscribed")).PushAsync(q.RecipientId, msg);

    private RelayQueue? ByRecipient(byte[] id)
    {
        lock (_sync) return _queues.FirstOrDefault(q => q.RecipientId.AsSpan().SequenceEqual(id));
    }

    private RelayQueue? BySender(byte[] id)
    {
        lock (_sync) return _queues.FirstOrDefault(q => q.SenderId.AsSpan().SequenceEqual(id));
    }

    private static bool Signed(SmpTransmission t, byte[]? key) =>
        key is not null && RsaPublicKey.TryParse(key, out var k) && k!.Verify(t.SignedBytes(), t.Signature);

    private async Task HandleAsync(FakeSession s, SmpTransmission t)
    {
        switch (t.Command)
        {
            case SmpCommand.New n:
            {
                var q = new RelayQueue(RandomNumberGenerator.GetBytes(12), RandomNumberGenerator.GetBytes(12), n.RecipientKey) { Subscriber = s };
                lock (_sync) _queues.Add(q);
                await s.ReplyAsync(t, new SmpCommand.Ids(q.RecipientId, q.SenderId));
                return;
            }
            case SmpCommand.Send send:
            {
                var q = BySender(t.QueueId);
                if (q is not null && BeforeSend is { } hold) await hold(q, t);
                var ok = q is not null && (q.SenderKey is null ? t.Signature.Length == 0 : Signed(t, q.SenderKey));
                if (!ok)
                {
                    await s.ReplyAsync(t, new SmpCommand.Err(SmpErrorCode.Auth));
                    return;
                }
                var msg = new SmpCommand.Msg(RandomNumberGenerator.GetBytes(24), DateTimeOffset.UtcNow, send.Body.ToArray());
                FakeSession? deliverTo = null;
                SmpCommand.Msg? first = null;
                lock (_sync)
                {
                    q!.Messages.Add(msg);
                    q.Accepted.Add(msg);
                    if (q.Subscriber is not null && !q.Delivered)
                    {
                        q.Delivered = true;
                        deliverTo = q.Subscriber;
                        // Taken under the lock: an ACK racing this SEND (of a copy a test pushed) may remove it.
                        first = q.Messages[0];
                    }
                }
                if (LoseAnswer?.Invoke(send) == true)
                {
                    // Accepted and delivered, but the sender never hears so.
                    if (deliverTo is not null && deliverTo != s) await deliverTo.PushAsync(q.RecipientId, first!);
                    s.Abort();
                    return;
                }
                await s.ReplyAsync(t, SmpCommand.OkResponse);
                if (deliverTo is not null) await deliverTo.PushAsync(q.RecipientId, first!);
                return;
            }
            case not null when ByRecipient(t.QueueId) is { } q && Signed(t, q.RecipientKey):
                await RecipientCommandAsync(s, t, q);
                return;
            case SmpCommand.Ping:
                await s.ReplyAsync(t, SmpCommand.PongResponse);
                return;
            default:
                await s.ReplyAsync(t, new SmpCommand.Err(t.Error ?? SmpErrorCode.Auth));
                return;
        }
    }

    private async Task RecipientCommandAsync(FakeSession s, SmpTransmission t, RelayQueue q)
    {
        switch (t.Command)
        {
            case SmpCommand.Key k:
                if (q.SenderKey is not null)
                {
                    await s.ReplyAsync(t, new SmpCommand.Err(SmpErrorCode.Auth));
                    return;
                }
                q.SenderKey = k.SenderKey;
                if (LoseAnswer?.Invoke(k) == true)
                {
                    s.Abort();
                    return;
                }
                await s.ReplyAsync(t, SmpCommand.OkResponse);
                return;
            case SmpCommand.Sub:
            {
                SmpCommand.Msg? first;
                lock (_sync)
                {
                    q.Subscriber = s;
                    first = q.Messages.FirstOrDefault();
                    q.Delivered = first is not null;
                }
                await s.ReplyAsync(t, first ?? SmpCommand.OkResponse);
                return;
            }
            case SmpCommand.Ack:
            {
                if (BeforeAck is { } hook && !await hook(q)) return;
                SmpCommand? answer;
                lock (_sync)
                {
                    q.Acks++;
                    if (!q.Delivered || q.Messages.Count == 0)
                    {
                        answer = new SmpCommand.Err(SmpErrorCode.NoMsg);
                    }
                    else
                    {
                        q.Messages.RemoveAt(0);
                        q.Delivered = q.Messages.Count > 0;
                        answer = q.Delivered ? q.Messages[0] : SmpCommand.OkResponse;
                    }
                }
                await s.ReplyAsync(t, answer);
                return;
            }
            case SmpCommand.Del:
                lock (_sync) _queues.Remove(q);
                await s.ReplyAsync(t, SmpCommand.OkResponse);
                return;
            default:
                await s.ReplyAsync(t, SmpCommand.OkResponse);
                return;
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
