// `npm run build:web`: bundles the browser explorer into web/dist/ (src/explore/build.ts says what goes in).
import { buildWeb } from "../src/explore/build";

await buildWeb({ log: (m) => console.log(m) });
