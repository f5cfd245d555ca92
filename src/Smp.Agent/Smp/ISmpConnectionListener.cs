using Smp.Protocol.Smp;

namespace Smp.Agent.Smp;

/// <summary>
/// Receives what a <see cref="SmpConnection"/> reads that no request is waiting for. Called on the connection's
/// reader loop, one call at a time and in wire order: implementations must return quickly and not block.
/// </summary>
public interface ISmpConnectionListener
{
    /// <summary>A <c>MSG</c> (pushed, or answering SUB/ACK) or an <c>END</c>; <paramref name="queueId"/> is the recipient id.</summary>
    void OnPush(SmpConnection connection, byte[] queueId, SmpCommand command);

    /// <summary>An <c>ERR</c> for no request, or a block or transmission that does not parse.</summary>
    void OnError(SmpConnection connection, byte[] queueId, SmpClientError error);

    /// <summary>Called once when the connection ends: <paramref name="reason"/> is null when it was disposed on purpose.</summary>
    void OnClosed(SmpConnection connection, SmpClientError? reason);
}
