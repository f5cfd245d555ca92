using System.Buffers;
using Smp.Protocol.Agent;
using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Agent.Smp;

/// <summary>What went wrong talking to an SMP server. Numeric values are frozen.</summary>
public enum SmpClientErrorKind
{
    /// <summary>The server answered <c>ERR e</c>: agent wire text <c>SMP e</c>.</summary>
    Smp = 1,
    /// <summary>No answer within the request timeout: <c>BROKER TIMEOUT</c>.</summary>
    Timeout = 2,
    /// <summary>Could not connect, or the connection was lost while waiting: <c>BROKER NETWORK</c>.</summary>
    Network = 3,
    /// <summary>The transport handshake failed (e.g. the key hash): <c>BROKER TRANSPORT t</c>.</summary>
    Transport = 4,
    /// <summary>The server answered with the wrong response: <c>BROKER UNEXPECTED</c>.</summary>
    Unexpected = 5,
    /// <summary>The server's answer did not parse: <c>BROKER RESPONSE e</c>.</summary>
    Response = 6,
    /// <summary>The body would not fit a block (ours or the server's MSG): the agent's <c>CMD LARGE</c>.</summary>
    Large = 7,
}

/// <summary>
/// A typed client error. <see cref="SmpError"/> is set for <see cref="SmpClientErrorKind.Smp"/> and
/// <see cref="SmpClientErrorKind.Response"/>, <see cref="TransportError"/> for <see cref="SmpClientErrorKind.Transport"/>.
/// <code>
/// wire = "SMP" SP smpError / "BROKER" SP ("RESPONSE" SP smpError / "UNEXPECTED" / "NETWORK" / "TIMEOUT"
///        / "TRANSPORT" SP transportError) / "CMD LARGE"                       ; agent-ref.md §2
/// </code>
/// </summary>
public readonly record struct SmpClientError(SmpClientErrorKind Kind, SmpErrorCode? SmpError = null, TransportError? TransportError = null)
{
    public static SmpClientError Server(SmpErrorCode code) => new(SmpClientErrorKind.Smp, code);
    public static SmpClientError Response(SmpErrorCode code) => new(SmpClientErrorKind.Response, code);
    public static SmpClientError Transport(TransportError error) => new(SmpClientErrorKind.Transport, TransportError: error);
    public static readonly SmpClientError Timeout = new(SmpClientErrorKind.Timeout);
    public static readonly SmpClientError Network = new(SmpClientErrorKind.Network);
    public static readonly SmpClientError Unexpected = new(SmpClientErrorKind.Unexpected);
    public static readonly SmpClientError Large = new(SmpClientErrorKind.Large);

    /// <summary>The agent error this client error is reported as (agent-ref.md §2).</summary>
    public AgentError ToAgentError() => Kind switch
    {
        SmpClientErrorKind.Smp => AgentError.FromSmp(SmpError ?? SmpErrorCode.Internal),
        SmpClientErrorKind.Timeout => AgentError.Of(AgentErrorCode.BrokerTimeout),
        SmpClientErrorKind.Network => AgentError.Of(AgentErrorCode.BrokerNetwork),
        SmpClientErrorKind.Transport => AgentError.BrokerTransport(TransportError ?? Protocol.Transport.TransportError.Handshake),
        SmpClientErrorKind.Unexpected => AgentError.Of(AgentErrorCode.BrokerUnexpected),
        SmpClientErrorKind.Response => AgentError.BrokerResponse(SmpError ?? SmpErrorCode.Block),
        SmpClientErrorKind.Large => AgentError.Of(AgentErrorCode.CmdLarge),
        _ => throw new InvalidOperationException($"unknown error kind {Kind}"),
    };

    /// <summary>The agent's error text after <c>ERR </c>, e.g. <c>BROKER TRANSPORT BAD_HASH</c>.</summary>
    public string ToWireText() => AgentErrors.ToText(ToAgentError());

    public void Write(IBufferWriter<byte> writer) => AgentErrors.Write(writer, ToAgentError());

    public override string ToString() => ToWireText();
}

/// <summary>The one exception type the SMP client throws for protocol-level failures.</summary>
public sealed class SmpClientException(SmpClientError error, string? detail = null, Exception? inner = null)
    : Exception(detail is null ? error.ToWireText() : $"{error.ToWireText()}: {detail}", inner)
{
    public SmpClientError Error { get; } = error;

    /// <summary>
    /// True when the request had been handed to a connection, so the server may have acted on it although no
    /// answer came (the connection was lost, or it timed out); false when it certainly never left.
    /// </summary>
    public bool MayHaveArrived { get; init; }
}
