using Smp.Protocol.Smp;

namespace Smp.Agent.Smp;

/// <summary>The SMP operation that failed, for <see cref="SmpErrorPolicy.Classify"/>.</summary>
internal enum SmpOperation
{
    CreateQueue,
    Subscribe,
    Secure,
    Send,
    SendHello,
    Ack,
    Suspend,
    Delete,
    /// <summary>A confirmation sent again after an attempt whose answer never came (lost, or the agent stopped).</summary>
    ResendConfirmation,
}

/// <summary>What a failed SMP call means to the agent.</summary>
internal enum SmpFailure
{
    /// <summary>The server could not be reached or answered oddly: worth trying again later.</summary>
    Passing,
    /// <summary>The server refused, or the request can never fit: trying again cannot help.</summary>
    Final,
    /// <summary>The refusal says the effect is already there: KEY, DEL or a resent confirmation answered AUTH, ACK answered NO_MSG.</summary>
    AlreadyDone,
    /// <summary>HELLO answered AUTH: the peer has not secured its queue yet (agent.md §1 step 3).</summary>
    NotYet,
}

/// <summary>
/// The one place that decides what an SMP client error means: retried (passing) or reported (final), and
/// the refusals that protocol steps read as success. Job runners, ACKs, commands and the pool's
/// re-subscription all ask here.
/// </summary>
internal static class SmpErrorPolicy
{
    /// <summary>
    /// Network, timeout, handshake and garbled answers pass, and so does QUOTA: a full queue empties as its
    /// recipient reads. Any other ERR of a server and an oversized body do not.
    /// </summary>
    public static bool IsPassing(SmpClientError error) => error.Kind is SmpClientErrorKind.Network or SmpClientErrorKind.Timeout
        or SmpClientErrorKind.Transport or SmpClientErrorKind.Unexpected or SmpClientErrorKind.Response
        || error is { Kind: SmpClientErrorKind.Smp, SmpError: SmpErrorCode.Quota };

    public static SmpFailure Classify(SmpOperation operation, SmpClientError error)
    {
        if (IsPassing(error)) return SmpFailure.Passing;
        var auth = error is { Kind: SmpClientErrorKind.Smp, SmpError: SmpErrorCode.Auth };
        return operation switch
        {
            SmpOperation.SendHello when auth => SmpFailure.NotYet,
            // KEY on a queue that already has a sender key: a retry after a crash, already done.
            SmpOperation.Secure when auth => SmpFailure.AlreadyDone,
            // The earlier copy arrived and the peer secured its queue with our key; HELLO will prove it, and
            // if the queue was secured by someone else HELLO's AUTH limit ends the JOIN (agent.md §1 step 2).
            SmpOperation.ResendConfirmation when auth => SmpFailure.AlreadyDone,
            // The queue is gone on the server already: deleting it here is still right.
            SmpOperation.Delete when error.Kind == SmpClientErrorKind.Smp => SmpFailure.AlreadyDone,
            // NO_MSG: nothing is delivered on this connection; a re-subscription delivers it again.
            SmpOperation.Ack when error.Kind == SmpClientErrorKind.Smp => SmpFailure.AlreadyDone,
            _ => SmpFailure.Final,
        };
    }
}
