using Smp.Protocol.Smp;
using Smp.Protocol.Transport;

namespace Smp.Protocol.Agent;

/// <summary>
/// Errors of the agent client protocol (agent.md §3, groups.md §2). Numeric values are frozen: they are
/// stored with undelivered events and compared across versions. The tens digit groups them by wire family.
/// </summary>
public enum AgentErrorCode
{
    /// <summary>A command that only the other party may send (CMD PROHIBITED).</summary>
    CmdProhibited = 1,
    CmdSyntax = 2,
    /// <summary>An empty alias where the command needs a connection or group (CMD NO_CONN).</summary>
    CmdNoConn = 3,
    /// <summary>A body whose size line is malformed or whose bytes are not followed by a line end.</summary>
    CmdSize = 4,
    /// <summary>A line or body over the parser's limits, or a body that does not fit an envelope.</summary>
    CmdLarge = 5,

    ConnUnknown = 11,
    ConnDuplicate = 12,
    ConnSimplex = 13,

    /// <summary>The server answered ERR; <see cref="AgentError.Smp"/> says which.</summary>
    Smp = 21,

    /// <summary>The server's response did not parse; <see cref="AgentError.Smp"/> holds the SMP error.</summary>
    BrokerResponse = 31,
    BrokerUnexpected = 32,
    BrokerNetwork = 33,
    /// <summary>The transport failed; <see cref="AgentError.Detail"/> holds its token.</summary>
    BrokerTransport = 34,
    BrokerTimeout = 35,

    /// <summary>An agent envelope that does not parse (A_MESSAGE).</summary>
    AgentMessage = 41,
    /// <summary>An envelope not allowed in the connection's or member's state (A_PROHIBITED).</summary>
    AgentProhibited = 42,
    AgentEncryption = 43,
    AgentSignature = 44,

    GroupUnknown = 51,
    GroupDuplicate = 52,
    GroupNotMember = 53,
    GroupMemberUnknown = 54,
    GroupState = 55,

    /// <summary>A bug or a local failure; <see cref="AgentError.Detail"/> is free text.</summary>
    Internal = 61,
}

/// <summary>
/// One agent error with its argument: the SMP error for <see cref="AgentErrorCode.Smp"/> and
/// <see cref="AgentErrorCode.BrokerResponse"/>, a token for <see cref="AgentErrorCode.BrokerTransport"/>,
/// free text for <see cref="AgentErrorCode.Internal"/>.
/// </summary>
public sealed record AgentError
{
    private AgentError(AgentErrorCode code, SmpErrorCode? smp, string? detail)
    {
        Code = code;
        Smp = smp;
        Detail = detail;
    }

    public AgentErrorCode Code { get; }
    public SmpErrorCode? Smp { get; }
    public string? Detail { get; }

    /// <summary>An error without argument; throws for the codes that need one.</summary>
    public static AgentError Of(AgentErrorCode code) => code switch
    {
        AgentErrorCode.Smp or AgentErrorCode.BrokerResponse or AgentErrorCode.BrokerTransport or AgentErrorCode.Internal =>
            throw new ArgumentException($"{code} needs an argument", nameof(code)),
        _ when !Enum.IsDefined(code) => throw new ArgumentOutOfRangeException(nameof(code)),
        _ => new AgentError(code, null, null),
    };

    public static AgentError FromSmp(SmpErrorCode error) => new(AgentErrorCode.Smp, error, null);

    public static AgentError BrokerResponse(SmpErrorCode error) => new(AgentErrorCode.BrokerResponse, error, null);

    /// <summary>A transport failure named by a token of <see cref="AgentErrors.IsToken"/> form, e.g. <c>BAD_HASH</c>.</summary>
    public static AgentError BrokerTransport(string token) =>
        AgentErrors.IsToken(token) ? new(AgentErrorCode.BrokerTransport, null, token) : throw new ArgumentException("not a token", nameof(token));

    /// <summary>Our transport errors under the reference's token names where one exists.</summary>
    public static AgentError BrokerTransport(TransportError error) => BrokerTransport(error switch
    {
        TransportError.Handshake => "HEADER",
        TransportError.BadKeyHash => "BAD_HASH",
        TransportError.BadBlockSize => "HEADER",
        TransportError.Version => "MAJOR_VERSION",
        TransportError.Large => "LARGE",
        TransportError.Closed => "TERMINATED",
        TransportError.Timeout => "TIMEOUT",
        _ => "UNKNOWN",
    });

    public static AgentError Internal(string text) => new(AgentErrorCode.Internal, null, text ?? "");

    public override string ToString() => AgentErrors.ToText(this);
}

/// <summary>The one exception the agent throws to answer with an agent error; the session loop maps it to <c>ERR</c>.</summary>
public sealed class AgentProtocolException : Exception
{
    public AgentProtocolException(AgentError error) : base($"agent error {error}") => Error = error;

    public AgentProtocolException(AgentErrorCode code) : this(AgentError.Of(code)) { }

    public AgentError Error { get; }
}
