using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;

namespace Smp.Server.Sessions;

/// <summary>The commands of smp-wire.md §4 and the delivery rules of §5.</summary>
internal sealed partial class ClientSession
{
    private const int MsgIdBytes = 6;

    /// <summary>Runs one transmission; every failure becomes the error reply with corrId and queueId echoed.</summary>
    private void Execute(SmpTransmission t)
    {
        try
        {
            if (t.Command is not { } command) throw new SmpProtocolException(t.Error ?? SmpErrorCode.CmdSyntax);
            switch (command)
            {
                case SmpCommand.Ping:
                    Send(Encode(t.CorrId, t.QueueId, SmpCommand.PongResponse));
                    break;
                case SmpCommand.New c:
                    New(t, c);
                    break;
                case SmpCommand.Send c:
                    SendMessage(t, c);
                    break;
                default:
                    Recipient(t, command);
                    break;
            }
        }
        catch (SmpProtocolException e)
        {
            SendError(t, e.Code);
        }
        catch (IOException e)
        {
            _logger.LogError(e, "could not write a log record; command refused");
            SendError(t, SmpErrorCode.Internal);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug must cost one command, not the connection.
            _logger.LogError(e, "command failed");
            SendError(t, SmpErrorCode.Internal);
        }
    }

    private void SendError(SmpTransmission t, SmpErrorCode code)
    {
        var err = new SmpCommand.Err(code);
        var reply = Encode(t.CorrId, t.QueueId, err);
        // An echoed queue id can make the reply longer than the request was; it is dropped rather than the reply.
        if (reply.Length > _transport!.MaxTransmission) reply = Encode(t.CorrId, [], err);
        Send(reply);
    }

    private static SmpProtocolException Error(SmpErrorCode code) => new(code);

    private void New(SmpTransmission t, SmpCommand.New c)
    {
        if (!RsaPublicKey.TryParse(c.RecipientKey, out var key, out var badSize) && !badSize) throw Error(SmpErrorCode.CmdSyntax);
        var signed = SignedPart(t);
        var valid = false;
        if (key is not null)
        {
            using (key)
            {
                if (key.ModulusBytes == t.Signature.Length) valid = key.Verify(signed, t.Signature);
                else SignatureCheck.DummyVerify(t.Signature, signed);
            }
        }
        else SignatureCheck.DummyVerify(t.Signature, signed);
        if (!valid) throw Error(SmpErrorCode.Auth);
        var q = _state.Store.Create(c.RecipientKey) ?? throw Error(SmpErrorCode.Internal);
        lock (q)
        {
            // The creating connection is subscribed (server-ref.md §3, NEW); nobody else can be yet.
            q.Subscriber = this;
            AddSubscription(q);
            Send(Encode(t.CorrId, t.QueueId, new SmpCommand.Ids(q.RecipientId, q.SenderId)));
        }
    }

    private void SendMessage(SmpTransmission t, SmpCommand.Send c)
    {
        var q = _state.Store.FindBySender(t.QueueId);
        var senderKey = q?.SenderKey;
        var isSigned = t.Signature.Length != 0;
        if (q is null)
        {
            if (isSigned) SignatureCheck.DummyVerify(t.Signature, SignedPart(t));
            throw Error(SmpErrorCode.Auth);
        }
        // Unsigned only while unsecured, signed with SK once secured (smp-wire.md §1).
        if (!isSigned ? senderKey is not null : !SignatureCheck.Verify(senderKey, t.Signature, SignedPart(t))) throw Error(SmpErrorCode.Auth);
        var body = c.Body.ToArray();
        var rid = q.RecipientId;
        // The MSG this becomes must fit one block even with an empty corrId; otherwise it could never be delivered.
        if (MsgLength(rid.Length, body.Length) > _transport!.MaxTransmission) throw Error(SmpErrorCode.CmdSyntax);
        lock (q)
        {
            if (q.Deleted || q.Suspended || !ReferenceEquals(q.SenderKey, senderKey)) throw Error(SmpErrorCode.Auth);
            _state.Counters.Expired(q.DropExpired(_state.ExpiryCutoff));
            if (q.MessageCount >= _state.Options.MaxMessagesPerQueue)
            {
                _state.Counters.RefusedByQuota();
                throw Error(SmpErrorCode.Quota);
            }
            var message = new StoredMessage(RandomNumberGenerator.GetBytes(MsgIdBytes), _state.Now(), body);
            _state.Journal.AppendMessage(q, message);
            q.Enqueue(message);
            _state.Counters.Accepted();
            if (q.Subscriber is { } subscriber && !q.Delivered)
            {
                q.Delivered = true;
                // Fits: checked above with MsgLength.
                subscriber.Send([], rid, ToMsg(q.Head!));
                _state.Counters.Delivered();
            }
            Send(t.CorrId, t.QueueId, SmpCommand.OkResponse);
        }
    }

    private void Recipient(SmpTransmission t, SmpCommand command)
    {
        byte[]? senderKey = null;
        var senderKeyBadSize = false;
        if (command is SmpCommand.Key k)
        {
            if (!RsaPublicKey.TryParse(k.SenderKey, out var parsed, out senderKeyBadSize) && !senderKeyBadSize) throw Error(SmpErrorCode.CmdSyntax);
            parsed?.Dispose();
            senderKey = k.SenderKey;
        }
        var q = _state.Store.FindByRecipient(t.QueueId);
        if (!SignatureCheck.Verify(q?.RecipientKey, t.Signature, SignedPart(t)) || q is null) throw Error(SmpErrorCode.Auth);
        if (senderKeyBadSize) throw Error(SmpErrorCode.CmdKeySize);
        lock (q)
        {
            if (q.Deleted) throw Error(SmpErrorCode.Auth);
            switch (command)
            {
                case SmpCommand.Sub:
                    Subscribe(q, t.CorrId);
                    break;
                case SmpCommand.Key:
                    if (q.SenderKey is not null) throw Error(SmpErrorCode.Auth);
                    _state.Store.Secure(q, senderKey!);
                    Send(t.CorrId, t.QueueId, SmpCommand.OkResponse);
                    break;
                case SmpCommand.Ack:
                    Acknowledge(q, t.CorrId);
                    break;
                case SmpCommand.Off:
                    _state.Store.Suspend(q);
                    Send(t.CorrId, t.QueueId, SmpCommand.OkResponse);
                    break;
                case SmpCommand.Del:
                    _state.Store.Delete(q);
                    _state.Counters.Removed(q.MessageCount);
                    q.Subscriber?.RemoveSubscription(q);
                    q.Subscriber = null;
                    Send(t.CorrId, t.QueueId, SmpCommand.OkResponse);
                    break;
                default:
                    throw Error(SmpErrorCode.CmdProhibited);
            }
        }
    }

    /// <summary>SUB (smp-wire.md §5): take the queue over, ending the previous subscriber, and (re)deliver the head.</summary>
    private void Subscribe(QueueRecord q, byte[] corrId)
    {
        if (q.Subscriber != this)
        {
            if (q.Subscriber is { } previous)
            {
                previous.RemoveSubscription(q);
                previous.Send(Encode([], q.RecipientId, SmpCommand.EndResponse));
            }
            q.Subscriber = this;
            AddSubscription(q);
        }
        q.Delivered = false;
        DeliverHead(q, corrId);
    }

    /// <summary>ACK: only the subscriber, only for a delivered message (else NO_MSG); then the next one.</summary>
    private void Acknowledge(QueueRecord q, byte[] corrId)
    {
        if (q.Subscriber != this || !q.Delivered || q.Head is not { } head) throw Error(SmpErrorCode.NoMsg);
        _state.Journal.AppendAck(q, head);
        q.Dequeue();
        _state.Counters.Removed(1);
        q.Delivered = false;
        DeliverHead(q, corrId);
    }

    /// <summary>
    /// With the queue locked and nothing delivered: answers with the head message, or OK when there is none
    /// (the next SEND then pushes it). A MSG that would not fit a block with this corrId is answered OK and
    /// pushed with an empty corrId instead, as a waiting subscription would get it.
    /// </summary>
    private void DeliverHead(QueueRecord q, byte[] corrId)
    {
        _state.Counters.Expired(q.DropExpired(_state.ExpiryCutoff));
        if (q.Head is not { } head)
        {
            Send(corrId, q.RecipientId, SmpCommand.OkResponse);
            return;
        }
        q.Delivered = true;
        _state.Counters.Delivered();
        var msg = ToMsg(head);
        if (corrId.Length + MsgLength(q.RecipientId.Length, head.Body.Length) <= _transport!.MaxTransmission)
        {
            Send(corrId, q.RecipientId, msg);
            return;
        }
        Send(corrId, q.RecipientId, SmpCommand.OkResponse);
        Send([], q.RecipientId, msg);
    }

    private static SmpCommand.Msg ToMsg(StoredMessage m) => new(m.Id, m.Timestamp, m.Body);

    /// <summary>
    /// Length of <c>SP SP b64(rid) SP "MSG" SP b64(msgId) SP ts SP size SP body SP SP</c>, the pushed MSG
    /// with an empty corrId.
    /// </summary>
    internal static int MsgLength(int ridBytes, int bodyBytes) =>
        2 + (4 * ((ridBytes + 2) / 3)) + 5 + (4 * ((MsgIdBytes + 2) / 3)) + 1 + 24 + 1 + Digits(bodyBytes) + 1 + bodyBytes + 2;

    private static int Digits(int n) => n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : 6;
}
