using System.Buffers;
using System.Text;
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

    /// <summary>The agent's error text after <c>ERR </c>, e.g. <c>BROKER TRANSPORT BAD_HASH</c>.</summary>
    public string ToWireText() => Kind switch
    {
        SmpClientErrorKind.Smp => "SMP " + SmpErrors.ToText(SmpError ?? SmpErrorCode.Internal),
        SmpClientErrorKind.Timeout => "BROKER TIMEOUT",
        SmpClientErrorKind.Network => "BROKER NETWORK",
        SmpClientErrorKind.Transport => "BROKER TRANSPORT " + TransportName(TransportError ?? Protocol.Transport.TransportError.Handshake),
        SmpClientErrorKind.Unexpected => "BROKER UNEXPECTED",
        SmpClientErrorKind.Response => "BROKER RESPONSE " + SmpErrors.ToText(SmpError ?? SmpErrorCode.Block),
        SmpClientErrorKind.Large => "CMD LARGE",
        _ => throw new InvalidOperationException($"unknown error kind {Kind}"),
    };

    public void Write(IBufferWriter<byte> writer) => writer.Write(Encoding.ASCII.GetBytes(ToWireText()));

    public override string ToString() => ToWireText();

    /// <summary>
    /// Our transport errors under the reference's names (agent-ref.md §2). The reference has finer handshake
    /// names (ENCRYPT, DECRYPT, RSA_KEY, AES_KEYS); a malformed handshake of ours is reported as HEADER.
    /// </summary>
    public static string TransportName(TransportError error) => error switch
    {
        Protocol.Transport.TransportError.BadKeyHash => "BAD_HASH",
        Protocol.Transport.TransportError.Version => "MAJOR_VERSION",
        Protocol.Transport.TransportError.Large => "BLOCK",
        Protocol.Transport.TransportError.Closed or Protocol.Transport.TransportError.Timeout => "TERMINATED",
        _ => "HEADER",
    };
}

/// <summary>The one exception type the SMP client throws for protocol-level failures.</summary>
public sealed class SmpClientException(SmpClientError error, string? detail = null, Exception? inner = null)
    : Exception(detail is null ? error.ToWireText() : $"{error.ToWireText()}: {detail}", inner)
{
    public SmpClientError Error { get; } = error;
}
