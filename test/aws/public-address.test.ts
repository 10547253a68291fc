import { readFileSync } from 'node:fs';
import { DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverPublicAddress, PublicAddressError, readTaskMetadata } from '../../media-task/aws/public-address.ts';

const metadata = readFileSync(new URL('../fixtures/aws/task-metadata-v4.json', import.meta.url), 'utf8');
const METADATA_URI = 'http://169.254.170.2/v4/0b6c8b3e4d8f4a4d9a1c2e3f4a5b6c7d-2531612879';
const ec2Mock = mockClient(EC2Client);
afterEach(() => ec2Mock.reset());

const fetched: string[] = [];
const fakeFetch = (async (url: string) => {
  fetched.push(url);
  return new Response(metadata, { status: 200, headers: { 'content-type': 'application/json' } });
}) as typeof fetch;

const discover = async (overrides: Partial<Parameters<typeof discoverPublicAddress>[0]> = {}) =>
  discoverPublicAddress({
    metadata: await readTaskMetadata(METADATA_URI, fakeFetch),
    ec2: new EC2Client({ region: 'eu-west-1' }),
    delayMs: 0,
    ...overrides,
  });

describe('discoverPublicAddress', () => {
  it('finds the ENI by the MAC and private IP from task metadata v4 and returns its public IP', async () => {
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({
      NetworkInterfaces: [
        {
          NetworkInterfaceId: 'eni-0f1e2d3c4b5a69788',
          PrivateIpAddress: '10.0.0.183',
          Association: { PublicIp: '198.51.100.77' },
        },
      ],
    });
    await expect(discover()).resolves.toEqual({ privateAddress: '10.0.0.183', publicAddress: '198.51.100.77' });
    expect(fetched.at(-1)).toBe(`${METADATA_URI}/task`);
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)[0]!.args[0].input).toEqual({
      Filters: [
        { Name: 'mac-address', Values: ['0a:9e:32:5c:41:7b'] },
        { Name: 'addresses.private-ip-address', Values: ['10.0.0.183'] },
      ],
    });
  });

  it('waits for a public IP association that lags the task start', async () => {
    ec2Mock
      .on(DescribeNetworkInterfacesCommand)
      .resolvesOnce({ NetworkInterfaces: [{ PrivateIpAddress: '10.0.0.183' }] })
      .resolves({ NetworkInterfaces: [{ Association: { PublicIp: '198.51.100.77' } }] });
    await expect(discover()).resolves.toMatchObject({ publicAddress: '198.51.100.77' });
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(2);
  });

  it('says the subnet or assignPublicIp is wrong when the ENI never gets a public IP', async () => {
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ PrivateIpAddress: '10.0.0.183' }] });
    await expect(discover({ attempts: 3 })).rejects.toThrow(/assignPublicIp/);
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(3);
  });

  it("reads the task's own ARN from the same answer, and fails clearly when the endpoint does not answer", async () => {
    expect(await readTaskMetadata(METADATA_URI, fakeFetch)).toEqual({
      taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/SipRtmpGateway-Cluster/0b6c8b3e4d8f4a4d9a1c2e3f4a5b6c7d',
      privateAddress: '10.0.0.183',
      macAddress: '0a:9e:32:5c:41:7b',
    });
    const down = (async () => new Response('', { status: 500 })) as unknown as typeof fetch;
    await expect(readTaskMetadata(METADATA_URI, down)).rejects.toThrow(PublicAddressError);
  });
});
