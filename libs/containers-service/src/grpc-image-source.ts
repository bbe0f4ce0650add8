import { ImagesService, type Platform } from '@strata/api/images/v1';
import type { RpcClient } from '@strata/grpc-kit';
import { dockerHealthcheck } from '@strata/docker-api/views';
import { invalidArgument, isNotFound, notFound } from '@strata/kit';
import { compatiblePlatforms, formatPlatform, normalizePlatform, parseDigest, parsePlatform, type ContainerConfig, type Platform as OciPlatform } from '@strata/oci';
import type { ImageInfo, ImageSource } from './ports.js';

function platformOf(text: string | undefined): Platform | undefined {
  if (text === undefined || text === '') return undefined;
  const [os = '', architecture = '', variant = '', ...rest] = text.split('/');
  if (os === '' || rest.length > 0) throw invalidArgument(`invalid platform "${text}": expected os[/arch[/variant]], e.g. linux/amd64`);
  return { os, architecture, variant };
}

/**
 * Raises NotFound with Docker's sentence when the image the mirror gave
 * for ref (whose own platform is actual; os and architecture empty when
 * the config does not say) is not one the platform asked for can run: the
 * mirror picks from an index but returns a single-platform manifest
 * whatever the platform asked.
 */
function checkPlatform(ref: string, asked: string, actual: { os: string; architecture: string; variant: string }): void {
  if (actual.os === '' || actual.architecture === '') return;
  const wanted = parsePlatform(asked);
  const got = normalizePlatform({ os: actual.os, architecture: actual.architecture, ...(actual.variant === '' ? {} : { variant: actual.variant }) });
  const same = (p: OciPlatform) => p.os === got.os && p.architecture === got.architecture && (p.variant ?? '') === (got.variant ?? '');
  if (compatiblePlatforms(wanted).some(same)) return;
  throw notFound(
    `image with reference ${ref} was found but does not match the specified platform: wanted ${formatPlatform(wanted)}, actual: ${formatPlatform(got)}`,
    { fields: { ref, platform: formatPlatform(wanted) } },
  );
}

const nonEmpty = <T>(list: T[]) => (list.length === 0 ? undefined : list);
const set = (v: string) => (v === '' ? undefined : v);

/**
 * The ImageSource of the registry-mirror's Images API through client (a
 * gRPC client of `<runDir>/registry-mirror.sock`), asking without the
 * image's names (which only inspect shows). NotFound becomes "No such
 * image: ref"; an image whose platform the one asked for cannot run is
 * NotFound with Docker's `image with reference … was found but does not
 * match the specified platform` (see checkPlatform); other errors are the
 * client's.
 */
export function createGrpcImageSource(client: RpcClient): ImageSource {
  return {
    async inspect(ref, platformText) {
      const platform = platformOf(platformText);
      let image;
      try {
        ({ image } = await client.unary(ImagesService.inspect, { ref, withoutNames: true, ...(platform === undefined ? {} : { platform }) }));
      } catch (err) {
        if (isNotFound(err)) throw notFound(`No such image: ${ref}`, { cause: err, fields: { ref } });
        throw err;
      }
      if (image?.manifest === undefined) throw notFound(`No such image: ${ref}`, { fields: { ref } });
      if (platform !== undefined) checkPlatform(ref, platformText!, image);
      const c = image.config;
      const config: ContainerConfig = {};
      if (c !== undefined) {
        if (c.user !== '') config.User = c.user;
        if (c.exposedPorts.length > 0) config.ExposedPorts = Object.fromEntries(c.exposedPorts.map((p) => [p, {}]));
        if (nonEmpty(c.env)) config.Env = [...c.env];
        if (nonEmpty(c.entrypoint)) config.Entrypoint = [...c.entrypoint];
        if (nonEmpty(c.cmd)) config.Cmd = [...c.cmd];
        if (set(c.workingDir)) config.WorkingDir = c.workingDir;
        if (Object.keys(c.labels).length > 0) config.Labels = { ...c.labels };
        if (set(c.stopSignal)) config.StopSignal = c.stopSignal;
        if (c.volumes.length > 0) config.Volumes = Object.fromEntries(c.volumes.map((v) => [v, {}]));
        if (c.healthcheck !== undefined && c.healthcheck.test.length > 0) config.Healthcheck = dockerHealthcheck(c.healthcheck);
      }
      const m = image.manifest;
      const info: ImageInfo = {
        id: image.id,
        manifest: { mediaType: m.mediaType, digest: parseDigest(m.digest), size: m.size },
        config,
        diffIds: [...(image.rootfs?.layers ?? [])],
        ...(image.architecture === '' ? {} : { architecture: image.architecture }),
      };
      return info;
    },
  };
}
